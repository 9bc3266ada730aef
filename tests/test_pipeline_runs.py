"""The suite's reduced toy runs against each other: the shared one (local, killed and resumed)
against the same config run uninterrupted through the test Slurm, and a run of one checkpoint.
All start in the background with the suite's first test (tests/conftest.py: long runs);
these tests check what they made."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import same_tables

pytestmark = pytest.mark.slow


def test_killed_run_resumes_to_the_same_results(finished_run, slurm_run):
    """SIGKILL the whole pipeline while a decompose job runs, rerun; SIGKILL it again while a
    scoring job runs, rerun (fixture finished_run): tables and provenance are those of the
    same config run without interruption through the test Slurm (locally, where
    RLDYNAMICS_SKIP_SLURM=1): two runs of one config agree to the byte, resumed or not, local
    or through profiles/slurm."""
    same_tables(slurm_run, finished_run)
    # Same base weights, checkpoints and config: the provenance records agree to the byte.
    first = (slurm_run / "results/ci/provenance.json").read_text()
    assert first == (finished_run / "results/ci/provenance.json").read_text()
    record = json.loads(first)
    assert len(record["config_sha256"]) == 64 and len(record["checkpoints"]) == 6
    assert record["packages"]["torch"] and record["packages"]["lm_eval"]


def test_single_checkpoint_run_has_recovery_and_no_trajectory(single_checkpoint_run):
    """A run published as its final model only: one checkpoint, no trajectory analyses."""
    log = (single_checkpoint_run / "snakemake.log").read_text()
    assert "rank-1 linearity, AlphaRL and the baseline need two or more" in log
    out = single_checkpoint_run / "results/one"
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
