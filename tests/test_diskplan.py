"""The disk plan: model shapes from config.json against real transformers models, factor sizes
against real factor files, and the README's table against the paper config it is made from."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from snakemake.utils import validate

from rldynamics.runs import diskplan
from rldynamics.cli import main
from rldynamics.core.errors import InputError
from rldynamics.core.io import load_factors
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
