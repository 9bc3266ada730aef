"""The disk plan: model shapes from config.json against real transformers models, factor sizes
against real factor files, and the README's table against the paper config it is made from."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from snakemake.utils import validate

from rldynamics.cli import main
from rldynamics.core.errors import InputError
from rldynamics.core.io import load_factors
from rldynamics.evaluate.runmodels import RunModels, planned_steps
from rldynamics.runs import diskplan
from tests.conftest import REPO

SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")


@pytest.mark.parametrize("family", ["qwen2", "qwen3"])
def test_shapes_match_a_real_model_of_the_family(family):
    import transformers

    sizes = dict(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    if family == "qwen2":
        config = transformers.Qwen2Config(**sizes)
        model = transformers.Qwen2ForCausalLM(config)
    else:
        config = transformers.Qwen3Config(head_dim=8, **sizes)
        model = transformers.Qwen3ForCausalLM(config)
    real = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert diskplan.decoder_shapes(config.to_dict()) == real


def test_factor_sizes_are_those_of_the_files_written(model_pair, tmp_path):
    base, rl, tensors, _ = model_pair
    out = tmp_path / "factors.safetensors"
    main(
        [
            "decompose",
            "--base",
            str(base),
            "--checkpoint",
            str(rl),
            "--rank",
            "3",
            "--out",
            str(out),
        ]
    )
    factors, _ = load_factors(out)
    written = sum(
        t.numel() * t.element_size() for parts in factors.values() for t in parts.values()
    )
    pattern = validate_config({"run": "x"})["decompose"]["pattern"]

    matrices = [t.shape for n, t in tensors.items() if re.search(pattern, n)]
    expected = sum((m + n + 1) * min(3, m, n) * 4 + 4 for m, n in matrices)
    assert written == expected


def validate_config(config):
    validate(config, SCHEMA, set_default=True)
    return config


def test_plan_of_a_single_checkpoint_run_has_no_trajectory_rows():
    config = validate_config(
        yaml.safe_load((REPO / "config/paper/orz-qwen2.5-7b.yaml").read_text())
    )
    hf_config = json.loads((REPO / "config/paper/models/qwen3-8b-base.json").read_text())
    rows = diskplan.plan(hf_config, config)
    assert not [r for r in rows if "rank-1 series" in r["what"] or "AlphaRL" in r["what"]]
    assert rows[0]["count"] == 2  # base + the one checkpoint


def test_stored_completions_are_planned_only_where_log_samples_is_on():
    raw = yaml.safe_load((REPO / "config/paper/dapo-qwen3-8b.yaml").read_text())
    hf_config = json.loads((REPO / "config/paper/models/qwen3-8b-base.json").read_text())
    on = {r["what"]: r for r in diskplan.plan(hf_config, validate_config(raw))}
    raw["evaluate"]["log_samples"] = False
    off = {r["what"]: r for r in diskplan.plan(hf_config, validate_config(raw))}
    name = "completions (evaluate.log_samples)"
    assert on[name]["kept"] == "kept" and on[name]["total"] > 1e9  # gigabytes at 32 samples
    assert off[name]["kept"] == "none" and off[name]["total"] == 0
    assert on["per-item verdicts"]["count"] == off["per-item verdicts"]["count"] > 0


def test_unknown_dtype_and_selection_are_refused():
    config = validate_config(
        {"run": "x", "checkpoints": {"source": "hf", "repo": "a/b", "steps": [1, 2]}}
    )
    shapes = {
        "hidden_size": 8,
        "intermediate_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "vocab_size": 10,
    }
    with pytest.raises(InputError, match="torch_dtype 'int4'"):
        diskplan.plan({**shapes, "torch_dtype": "int4"}, config)
    config["decompose"]["pattern"] = "^nothing$"
    with pytest.raises(InputError, match="selects no matrix"):
        diskplan.plan(shapes, config)
    with pytest.raises(InputError, match="no 'vocab_size'"):
        diskplan.decoder_shapes({k: v for k, v in shapes.items() if k != "vocab_size"})


def test_readme_disk_plan_is_the_dapo_config_s(tmp_path):
    """The README's table is regenerated, not typed: the command below must leave it as is."""
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "README.md").read_text())
    proc = subprocess.run(
        [
            "rldynamics",
            "disk-plan",
            "--config",
            "config/paper/dapo-qwen3-8b.yaml",
            "--model-config",
            "config/paper/models/qwen3-8b-base.json",
            "--readme",
            str(readme),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert readme.read_text() == (REPO / "README.md").read_text(), (
        "README's disk plan is stale: rerun the command of its Disk plan section"
    )
    assert "16.4 GB" in readme.read_text()  # one bf16 Qwen3-8B: 8.19 billion parameters


# --- the plan's steps -----------------------------------------------------------------------

MATRICES = [(64, 32), (16, 16)]


def hf_run_config():
    return validate_config(
        {"run": "x", "checkpoints": {"source": "hf", "repo": "a/b", "steps": [1, 2]}}
    )


def test_model_bytes_are_the_parameters_in_the_model_s_dtype():
    shapes = {"w": (4, 3), "b": (5,)}
    assert diskplan.model_bytes({}, shapes) == 17 * 2  # bfloat16 where none is named
    assert diskplan.model_bytes({"torch_dtype": "float32"}, shapes) == 17 * 4
    assert diskplan.model_bytes({"dtype": "float16"}, shapes) == 17 * 2
    with pytest.raises(InputError, match=r"torch_dtype 'int8' is not one of \['bfloat16'"):
        diskplan.model_bytes({"torch_dtype": "int8"}, shapes)


def test_decomposed_matrices_are_the_pattern_s_two_dimensional_tensors():
    shapes = {
        "model.embed_tokens.weight": (10, 4),
        "model.layers.0.self_attn.q_proj.weight": (4, 4),
        "model.layers.0.input_layernorm.weight": (4,),
        "model.layers.0.mlp.up_proj.weight": (6, 4),
    }
    pattern = hf_run_config()["decompose"]["pattern"]
    assert diskplan.decomposed_matrices(shapes, pattern) == [(4, 4), (6, 4)]
    assert diskplan.decomposed_matrices(shapes, "embed|layernorm") == [(10, 4)]
    with pytest.raises(InputError, match="decompose.pattern selects no matrix"):
        diskplan.decomposed_matrices(shapes, "layernorm")


def test_factor_and_rank1_bytes_per_matrix():
    matrices = [(4, 3), (2, 5)]
    # (m + n + 1)·k float32 for U, S, V and one for ‖ΔW‖F
    assert diskplan.factor_bytes(matrices, lambda m, n: min(2, m, n)) == (8 * 2 * 4 + 4) * 2
    assert diskplan.factor_bytes(matrices, lambda m, n: min(m, n)) == (8 * 3 + 8 * 2) * 4 + 8
    assert diskplan.rank1_bytes(matrices) == 2 * (4 + 3 + 2) * 4


def test_model_rows_are_the_downloads_and_folders():
    config = hf_run_config()
    rows = diskplan.model_rows(config, 2, 1000)
    assert [r["what"] for r in rows] == [
        "base and checkpoint downloads",
        "base and checkpoint folders",
    ]
    assert [(r["count"], r["each"], r["total"], r["kept"]) for r in rows] == [
        (3, 1000, 3000, "kept")
    ] * 2
    config["checkpoints"]["source"] = "toy"
    assert [r["what"] for r in diskplan.model_rows(config, 2, 1000)] == [
        "base and checkpoint folders"
    ]


def test_decomposition_rows_price_the_factors_and_w0_s_metrics():
    config = hf_run_config()
    config["rank_models"]["ranks"] = [4, "50%", "full"]  # decompose.rank is 8
    rows = diskplan.decomposition_rows(config, MATRICES, 2)
    assert [(r["what"], r["where"], r["count"], r["each"]) for r in rows] == [
        (
            "top-8 factors of every update",
            "results/<run>/factors/k8/",
            2,
            97 * 8 * 4 + 4 + 33 * 8 * 4 + 4,
        ),
        (
            "rank-50% factors of the final update",  # 16 and 8 triplets
            "results/<run>/factors/k50pct/",
            1,
            97 * 16 * 4 + 4 + 33 * 8 * 4 + 4,
        ),
        (
            "rank-full factors of the final update",
            "results/<run>/factors/kfull/",
            1,
            97 * 32 * 4 + 4 + 33 * 16 * 4 + 4,
        ),
        (
            "W0's share of the parameter metrics",  # top-32 of 64 × 32, top-8 of 16 × 16
            "results/<run>/parameters/base-metrics.safetensors",
            1,
            (32 * 8 + 97 * 32 * 4 + 40) + (16 * 8 + 33 * 8 * 4 + 40),
        ),
    ]
    assert rows[0]["total"] == 2 * rows[0]["each"]
    config["parameters"]["enabled"] = False
    config["rank_models"]["ranks"] = [1, "5%"]
    assert [r["what"] for r in diskplan.decomposition_rows(config, MATRICES, 2)] == [
        "top-8 factors of every update"
    ]


def test_dynamics_rows_need_a_trajectory():
    single = RunModels(steps=[1], eval_steps=[1], windows={})
    assert diskplan.dynamics_rows(single, MATRICES) == []
    family_of = {"a1": "alpharl", "a2": "alpharl", "f": "final"}
    models = RunModels(steps=[1, 2, 3], eval_steps=[1, 2, 3], windows={}, family_of=family_of)
    series, alpharl = diskplan.dynamics_rows(models, MATRICES)
    per_step = (64 + 32 + 2) * 4 + (16 + 16 + 2) * 4
    assert (series["count"], series["each"], series["note"]) == (
        1,
        3 * per_step,
        "3 evaluated checkpoints",
    )
    assert (alpharl["count"], alpharl["each"], alpharl["total"]) == (2, per_step, 2 * per_step)


def test_scoring_rows_are_the_compute_plan_s_verdicts_and_completions():
    raw = yaml.safe_load((REPO / "config/paper/dapo-qwen3-8b.yaml").read_text())
    config = validate_config(raw)
    steps = planned_steps(config)
    verdicts, completions, derived = diskplan.scoring_rows(config, steps, 1000)
    # 92 models, each on all 2349 items of the six benchmarks
    assert (verdicts["count"], verdicts["each"]) == (92 * 2349, 80)
    assert (completions["count"], completions["each"]) == (3_297_996, 1448)
    assert completions["kept"] == "kept" and completions["note"].startswith(
        "on: the compute plan's 3.58 G generated tokens"
    )
    assert (derived["count"], derived["each"], derived["total"], derived["kept"]) == (
        0,
        1000,
        0,
        "none",
    )
    config["evaluate"]["log_samples"] = False
    off = diskplan.scoring_rows(config, steps, 1000)[1]
    assert (off["count"], off["total"], off["kept"]) == (0, 0, "none")
    assert off["note"].startswith("off:")
