"""The suite's shared reduced toy run: its tables and figures, a dry re-run with nothing to do;
lint and format. (The runs killed and resumed, or of one checkpoint: test_pipeline_runs.py.)"""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, snakemake

pytestmark = pytest.mark.slow


def test_results_table_holds_every_model_kind(finished_run):
    table = pd.read_csv(finished_run / "results/ci/tables/results.csv", dtype={"k": str})
    assert set(table["model_kind"]) == {"base", "checkpoint", "rank-k", "alpharl", "baseline"}
    acc = table[table["metric"] == "acc"]
    assert acc["value"].between(0, 1).all()
    assert (acc["n"] == 40).all()
    assert sorted(acc[acc["model_kind"] == "checkpoint"]["step"]) == [2, 4, 6, 8, 10, 12]
    ranked = acc[acc["model_kind"] == "rank-k"]
    assert set(ranked["k"]) == {"1", "50%", "full"}
    assert set(ranked[ranked["k"] == "1"]["lam"]) == {0.5, 1.0}
    assert set(acc[acc["model_kind"] == "alpharl"]["variant"]) == {
        "paper",
        "official-code",
        "prospective",
        "relex",
    }


def test_no_model_folder_is_written_for_derived_models(finished_run):
    models = finished_run / "results/ci/models"
    assert [p.name for p in models.iterdir()] == ["base"]


def test_derived_tables_and_figures_exist(finished_run):
    out = finished_run / "results/ci"
    recovery = pd.read_csv(out / "tables/recovery.csv", dtype={"k": str})
    assert {"1", "50%", "full"} <= set(recovery["k"])
    linearity = pd.read_csv(out / "tables/linearity.csv")
    assert len(linearity) == 7 * 3 * 2  # modules × forms × alignments
    assert linearity["r2"].between(0, 1 + 1e-9).all()
    alpharl = pd.read_csv(out / "tables/alpharl.csv")
    assert len(alpharl) == 5 and set(alpharl["window_last_step"]) == {6}
    figures = ["accuracy_vs_step", "recovery_vs_k", "r2_histogram", "alpharl_windows"]
    for name in figures + ["lambda_sweep", "trajectories", "tsne", "tsne_released"]:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000
    for name in ["update_sparsity", "principal_angles", "spectral_drift"]:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000
    manifest = pd.read_csv(out / "checkpoints/manifest.csv")
    assert (
        list(manifest["step"]) == [2, 4, 6, 8, 10, 12] and manifest["sha256"].str.len().eq(64).all()
    )


def test_parameter_metrics_cover_every_checkpoint_and_matrix(finished_run):
    from rldynamics.core.io import load_factors

    out = finished_run / "results/ci"
    table = pd.read_csv(out / "tables/parameters.csv")
    assert sorted(table["step"].unique()) == [2, 4, 6, 8, 10, 12]
    assert table["param"].nunique() == 7 and set(table["run"]) == {"ci"}
    sparsity = table[table["metric"] == "update_sparsity"]["value"]
    assert len(sparsity) == 6 * 7 and sparsity.between(0, 1).all()
    assert {"principal_angle_left_max_deg", "spectral_shift_nss"} <= set(table["metric"])
    _, meta = load_factors(out / "factors/k2/step-12.safetensors")
    assert meta["method"] == "randomized" and meta["device"] == "cpu"
    assert sum(meta["methods_used"].values()) == 7


def test_toy_metric_tables_equal_the_full_svd_reference(finished_run):
    """Every checkpoint's metrics, computed by decompose with the run's base-metrics file,
    against the full computation (two full SVDs per matrix) within the issue's tolerances."""
    from rldynamics.core.io import ModelWeights, read_pair
    from rldynamics.core.settings import MetricSettings
    from rldynamics.decompose.param_metrics import reference_matrix_metrics
    from tests.conftest import assert_metrics_match

    out = finished_run / "results/ci"
    assert (out / "parameters/base-metrics.safetensors").exists()
    base = ModelWeights(out / "models/base")
    table = pd.read_csv(out / "tables/parameters.csv")
    compared = 0
    for step, rows in table.groupby("step"):
        rl = ModelWeights(out / f"checkpoints/step-{step}")
        reference = []
        for name in sorted(rows["param"].unique()):
            w0, w1 = read_pair(base, rl, name)
            reference += reference_matrix_metrics(w0, w1, MetricSettings(), name)
        compared += assert_metrics_match(rows.to_dict("records"), reference)
    assert compared > 0


def test_second_run_has_nothing_to_do(finished_run):
    proc = snakemake(finished_run, "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lint_is_clean():
    proc = subprocess.run(
        ["snakemake", "--lint", "-s", str(REPO / "Snakefile"), "--directory", str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_format_is_clean():
    """CI checks the formatters the catalog and the developers' guide ask for."""
    rules = sorted(str(p) for p in (REPO / "workflow/rules").glob("*.smk"))
    proc = subprocess.run(
        ["snakefmt", "--check", str(REPO / "Snakefile"), *rules],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = subprocess.run(
        ["ruff", "format", "--check", "src", "tests", "workflow"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_workflow_catalog_file():
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["report"] is True
    assert "configfile" in catalog["usage"]["mandatory-flags"]["desc"]
