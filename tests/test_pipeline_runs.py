"""Tests that run the reduced toy world themselves, killed and resumed or with one checkpoint,
through the snakemake command in temporary folders. They ask for the suite's shared run only
when they compare with it, so they run beside it (tests/conftest.py: long runs) rather than
after it."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest
import yaml

from tests.conftest import REDUCED, offline, same_tables, snakemake, snakemake_command

pytestmark = pytest.mark.slow


def _kill_while(run, logs, deadline):
    """SIGKILL the pipeline (its whole process group) once a job of this run has begun to log
    under ``logs`` (a log left by an earlier, killed run does not count)."""
    import signal
    import time

    started = time.time() - 1.0

    def begun():
        return logs.exists() and any(p.stat().st_mtime >= started for p in logs.rglob("*.log"))

    while not begun():
        assert run.poll() is None, f"the pipeline ended before {logs.name} began"
        assert time.monotonic() < deadline, f"{logs.name} never began"
        time.sleep(0.2)
    time.sleep(1.0)  # let the job get under way
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()


def test_killed_run_resumes_to_the_same_results(request, tmp_path):
    """SIGKILL the whole pipeline while a decompose job runs, rerun; SIGKILL it again while a
    scoring job runs, rerun: tables and provenance are those of the shared run, made without
    interruption (and through the test Slurm, unless RLDYNAMICS_SKIP_SLURM=1): two runs of one
    config agree to the byte, resumed or not, local or through profiles/slurm."""
    import time

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(REDUCED))
    env, cmd = offline(), snakemake_command(tmp_path)
    deadline = time.monotonic() + 600
    for stage in ("decompose", "eval"):
        run = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        _kill_while(run, tmp_path / "results/ci/logs" / stage, deadline)
        assert not (tmp_path / "results/ci/tables/results.csv").exists()
        unlock = subprocess.run([*cmd, "--unlock"], capture_output=True, text=True, env=env)
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # Asked for only now: this test runs beside the shared run instead of after it.
    finished_run = request.getfixturevalue("finished_run")
    same_tables(finished_run, tmp_path)
    # Same base weights, checkpoints and config: the provenance records agree to the byte.
    first = (finished_run / "results/ci/provenance.json").read_text()
    assert first == (tmp_path / "results/ci/provenance.json").read_text()
    record = json.loads(first)
    assert len(record["config_sha256"]) == 64 and len(record["checkpoints"]) == 6
    assert record["packages"]["torch"] and record["packages"]["lm_eval"]


def test_single_checkpoint_run_has_recovery_and_no_trajectory(tmp_path):
    """A run published as its final model only: one checkpoint, no trajectory analyses."""
    config = {**REDUCED, "run": "one"}
    config["toy"] = {**REDUCED["toy"], "rl": {**REDUCED["toy"]["rl"], "steps": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "rank-1 linearity, AlphaRL and the baseline need two or more" in proc.stderr
    out = tmp_path / "results/one"
    table = pd.read_csv(out / "tables/results.csv", dtype={"k": str})
    assert set(table["model_kind"]) == {"base", "checkpoint", "rank-k"}
    recovery = pd.read_csv(out / "tables/recovery.csv", dtype={"k": str})
    assert {"1", "50%", "full"} <= set(recovery["k"])
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == sorted(
        ["accuracy_vs_step", "recovery_vs_k", "lambda_sweep"]
        + ["update_sparsity", "principal_angles", "spectral_drift", "claims_forest"]
    )
    claims = pd.read_csv(out / "tables/claims.csv")  # no trajectory: those claims don't apply
    r2 = claims[claims["claim_id"] == "trajectory_r2"]
    assert (r2["verdict"] == "not applicable").all()
    assert not (out / "tables/linearity.csv").exists() and not (out / "dynamics").exists()
