"""profiles/slurm against a real Slurm: a single-node cluster brought up on this machine
(tests/slurm/cluster.sh, Debian's slurm-wlm and munge; fixture ``slurm`` in conftest.py). The
reduced toy world is run through it once (fixture ``slurm_run``); this module checks what
Slurm did, and tests/test_pipeline_runs.py compares its tables with the suite's shared local
run's.

Needs root (it starts daemons and may install packages). Set RLDYNAMICS_SKIP_SLURM=1 to
leave it out on a machine where that cannot be done (slurm_run is then made locally);
CI runs it.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter

import pytest

from rldynamics.evaluate.runmodels import toy_steps
from tests.conftest import REDUCED, SKIP_SLURM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SKIP_SLURM, reason="RLDYNAMICS_SKIP_SLURM=1"),
]

# The rules that write the task's items, gather tables and draw them, or copy a checkpoint's
# factor file out of its decompose batch, run where Snakemake runs (workflow/rules/*.smk).
LOCAL_RULES = {"checkpoint_results", "results", "item_verdicts", "recovery", "alpharl_table"}
LOCAL_RULES |= {"forecast", "backtest", "figures", "parameter_figures", "step_factors", "toy_task"}


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


def test_the_reduced_toy_run_went_through_slurm(slurm_run):
    """Every job but the target rule and the workflow's localrules (table gathering) went
    through sbatch: one Slurm job id each, and the executor kept each job's Slurm log, named by
    its id."""
    log = (slurm_run / "snakemake.log").read_text()
    assert "--profile" in log or "Using profiles" in log
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    local = re.findall(r"^localrule (\w+):", log, re.M)
    # one job a rule, but step_factors: one a checkpoint (its files out of the batch folder)
    once = {rule: 1 for rule in LOCAL_RULES | {"all"}}
    assert Counter(local) == {**once, "step_factors": len(toy_steps(REDUCED["toy"]["rl"]))}, local
    done, total = map(int, re.findall(r"^(\d+) of (\d+) steps \(100%\) done$", log, re.M)[-1])
    assert done == total and len(submitted) == len(set(submitted)) == total - len(local)
    slurm_logs = list((slurm_run / ".snakemake/slurm_logs").rglob("*.log"))
    assert {p.stem for p in slurm_logs} == set(submitted)
    assert (slurm_run / f"results/{REDUCED['run']}/tables/claims.csv").exists()
    print(f"{len(submitted)} Slurm jobs submitted")
