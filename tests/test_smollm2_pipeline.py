"""The reduced SmolLM2 world through snakemake: a real pretrained Llama (imported from its GGUF
file), a few GRPO steps here with the chat template, bf16 checkpoints, and every later stage
(decomposition of the matrices of three of its 30 layers, parameter metrics, chat-template
scoring graded by the math grader, dynamics, AlphaRL, claims, figures) run by the same rules
as the toy world."""

from __future__ import annotations

import gzip
import json
import re

import pandas as pd
import pytest
from safetensors import safe_open

from tests.conftest import SMOLLM2_GGUF, SMOLLM2_REDUCED_LAYERS

pytestmark = pytest.mark.slow

LLAMA_MATRIX = re.compile(
    r"^model\.layers\.(\d+)\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$"
)


def test_the_checkpoints_are_bf16_folders_of_the_base_tensors(finished_smollm2_run):
    """GRPO from the imported base saved every step in bf16, tensor for tensor the base's."""
    out = finished_smollm2_run / "results/ci-smollm2"
    manifest = pd.read_csv(out / "checkpoints/manifest.csv")
    assert list(manifest["step"]) == [1, 2, 3, 4]
    with safe_open(str(out / "models/base/model.safetensors"), "pt") as f:
        base_names = set(f.keys())
    for step in manifest["step"]:
        folder = out / f"checkpoints/step-{step}"
        with safe_open(str(next(folder.glob("*.safetensors"))), "pt") as f:
            names = list(f.keys())
            assert {f.get_slice(name).get_dtype() for name in names} == {"BF16"}
        assert set(names) == base_names, step
        assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    assert sum(bool(LLAMA_MATRIX.match(name)) for name in names) == 210


def test_every_selected_llama_matrix_is_decomposed_and_measured(finished_smollm2_run):
    """The pattern's 3 layers × 7 matrix types, each decomposed and measured at every step
    (config/smollm2.yaml's pattern takes all 30 layers; the full run measures all 210)."""
    out = finished_smollm2_run / "results/ci-smollm2"
    with safe_open(str(out / "factors/k2/step-4.safetensors"), "pt") as f:
        factored = {name.rsplit(".", 1)[0] for name in f.keys()}
    assert len(factored) == 21 and all(LLAMA_MATRIX.match(name) for name in factored)
    parameters = pd.read_csv(out / "tables/parameters.csv")
    sparsity = parameters[parameters["metric"] == "update_sparsity"]
    assert len(sparsity) == 21 * 4
    assert sparsity["param"].str.match(LLAMA_MATRIX.pattern).all()
    assert set(sparsity["layer"]) == set(SMOLLM2_REDUCED_LAYERS)
    assert set(sparsity["type"]) == {"q_proj", "k_proj", "v_proj", "o_proj"} | {
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    # bf16 checkpoints after a few steps at lr 2e-6: most entries do not change at all.
    assert sparsity["value"].between(0, 1).all()


def test_scoring_used_the_chat_template_and_the_math_grader(finished_smollm2_run):
    out = finished_smollm2_run / "results/ci-smollm2"
    table = pd.read_csv(out / "tables/results.csv", dtype={"k": str})
    assert set(table["model_kind"]) == {"base", "checkpoint", "rank-k", "alpharl", "baseline"}
    acc = table[table["metric"] == "acc"]
    assert (acc["n"] == 8).all() and acc["value"].between(0, 1).all()
    assert set(acc[acc["model_kind"] == "alpharl"]["variant"]) == {"prospective"}
    rows = []
    for path in (out / "eval").glob("*/*.completions.jsonl.gz"):
        with gzip.open(path, "rt") as handle:
            rows += [row for line in handle if (row := json.loads(line))["key"] == "base"]
    assert len(rows) == 8
    for row in rows:
        assert row["prompt"].startswith("<|im_start|>") and "<|im_start|>assistant" in row["prompt"]
        assert row["question"] in row["prompt"]


def test_claims_and_figures_are_written_for_the_real_model(finished_smollm2_run):
    out = finished_smollm2_run / "results/ci-smollm2"
    claims = pd.read_csv(out / "tables/claims.csv")
    assert claims["verdict"].notna().all() and (claims["run"] == "ci-smollm2").all()
    sparsity = claims[claims["claim_id"].str.contains("sparsity")]
    assert len(sparsity) and sparsity["value"].notna().all()
    for name in ("accuracy_vs_step", "update_sparsity", "principal_angles", "spectral_drift"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    provenance = json.loads((out / "provenance.json").read_text())
    # The run imported its base from the GGUF file: the import's record is the run's too.
    origin = provenance["base_origin"]
    assert origin["source"] == SMOLLM2_GGUF and re.fullmatch(r"[0-9a-f]{64}", origin["sha256"])
    assert origin["conversion"].startswith("dequantized from Q4_1")
    assert len(provenance["base"]) >= 1
