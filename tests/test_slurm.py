"""profiles/slurm against a real Slurm: a single-node cluster brought up on this machine
(tests/slurm/cluster.sh, Debian's slurm-wlm and munge), the reduced toy world submitted
through it, and results compared with the local run's.

Needs root (it starts daemons and may install packages). Set RLDYNAMICS_SKIP_SLURM=1 to
leave it out on a machine where that cannot be done; CI runs it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess

import pytest
import yaml

from tests.conftest import REDUCED, REPO, same_tables, snakemake

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("RLDYNAMICS_SKIP_SLURM") == "1", reason="RLDYNAMICS_SKIP_SLURM=1"
    ),
]

CLUSTER = REPO / "tests/slurm/cluster.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """SLURM_CONF-bearing environment of a freshly started single-node cluster."""
    assert os.geteuid() == 0, "the Slurm test starts daemons: run it as root"
    state = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, SLURMCTLD_PORT=str(free_port()), SLURMD_PORT=str(free_port()))
    up = subprocess.run(
        ["bash", str(CLUSTER), "up", str(state)], capture_output=True, text=True, env=env
    )
    assert up.returncode == 0, up.stderr[-3000:]
    env["SLURM_CONF"] = up.stdout.strip().splitlines()[-1]
    yield env
    subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
    subprocess.run(["bash", str(CLUSTER), "down", str(state)], env=env, capture_output=True)


def test_single_node_cluster_runs_a_batch_job(slurm, tmp_path):
    out = tmp_path / "job.out"
    proc = subprocess.run(
        ["sbatch", "--wait", "-o", str(out), "--wrap", "echo job $SLURM_JOB_ID on $(hostname)"],
        capture_output=True,
        text=True,
        env=slurm,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    job_id = re.search(r"Submitted batch job (\d+)", proc.stdout).group(1)
    assert out.read_text().startswith(f"job {job_id} on ")


def test_slurm_profile_runs_the_toy_world_with_local_results(slurm, finished_run, tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(REDUCED))
    profiles = ["--profile", str(REPO / "profiles/slurm")]
    profiles += ["--profile", str(REPO / "tests/slurm/profile")]
    planned = snakemake(tmp_path, *profiles, "-n", "--quiet", "rules", env=slurm)
    assert planned.returncode == 0, planned.stderr[-3000:]
    proc = snakemake(tmp_path, *profiles, env=slurm)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # Every job but the target rule went through sbatch: one Slurm job id each, and the
    # executor kept each job's Slurm log, named by its id.
    log = proc.stdout + proc.stderr
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    total = int(re.search(r"^total\s+(\d+)$", planned.stdout, re.M).group(1))
    assert len(submitted) == len(set(submitted)) == total - 1, log[-3000:]
    slurm_logs = list((tmp_path / ".snakemake/slurm_logs").rglob("*.log"))
    assert {p.stem for p in slurm_logs} == set(submitted)
    print(f"{len(submitted)} Slurm jobs submitted")

    same_tables(finished_run, tmp_path)
