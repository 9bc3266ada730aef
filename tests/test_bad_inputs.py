"""Bad inputs end with one clear line naming the file, tensor or key at fault (exit 2), no
traceback, and no output left behind."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch
import yaml

from rldynamics.cli import main
from tests.conftest import REPO, tiny_weights, write_model


def fails(capsys, argv, *expected, out=None):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for text in expected:
        assert str(text) in err, (text, err)
    if out is not None:
        assert not os.path.exists(out), f"{out} left behind"
    return err


def decompose_args(base, ckpt, out, rank=2):
    return ["decompose", "--base", base, "--checkpoint", ckpt, "--rank", rank, "--out", out]


def test_checkpoint_of_another_architecture(model_pair, tmp_path, capsys):
    base_dir, _, _, _ = model_pair
    other = write_model(tmp_path / "other", tiny_weights(0, d=16))
    out = tmp_path / "f.safetensors"
    fails(capsys, decompose_args(base_dir, other, out), "shape", str(other), out=out)


def test_missing_tensor(model_pair, tmp_path, capsys):
    base_dir, _, base, _ = model_pair
    partial = dict(base)
    del partial["model.layers.1.mlp.up_proj.weight"]
    ckpt = write_model(tmp_path / "partial", partial)
    out = tmp_path / "f.safetensors"
    fails(
        capsys,
        decompose_args(base_dir, ckpt, out),
        "model.layers.1.mlp.up_proj.weight",
        "missing",
        out=out,
    )


def test_truncated_safetensors_file(model_pair, tmp_path, capsys):
    base_dir, rl_dir, _, _ = model_pair
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (rl_dir / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    out = tmp_path / "f.safetensors"
    fails(capsys, decompose_args(base_dir, broken, out), str(broken), out=out)


def test_garbage_safetensors_header(model_pair, tmp_path, capsys):
    base_dir, _, _, _ = model_pair
    broken = tmp_path / "garbage"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    fails(capsys, decompose_args(base_dir, broken, tmp_path / "f.safetensors"), "safetensors")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_in_weights(model_pair, tmp_path, capsys, bad):
    base_dir, _, base, _ = model_pair
    poisoned = {k: v.clone() for k, v in base.items()}
    poisoned["model.layers.0.self_attn.q_proj.weight"][3, 4] = bad
    ckpt = write_model(tmp_path / "poisoned", poisoned)
    out = tmp_path / "f.safetensors"
    fails(
        capsys,
        decompose_args(base_dir, ckpt, out),
        "model.layers.0.self_attn.q_proj.weight",
        "NaN or Inf",
        out=out,
    )


def test_checkpoint_identical_to_base(model_pair, tmp_path, capsys):
    base_dir, _, base, _ = model_pair
    same = write_model(tmp_path / "same", base)
    out = tmp_path / "f.safetensors"
    fails(capsys, decompose_args(base_dir, same, out), "identical", out=out)


def test_pickled_weights_are_refused(model_pair, tmp_path, capsys):
    base_dir, _, _, _ = model_pair
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    torch.save({"w": torch.zeros(2)}, pickled / "pytorch_model.bin")
    fails(
        capsys,
        decompose_args(base_dir, pickled, tmp_path / "f.safetensors"),
        "never pickled",
        str(pickled),
    )


def test_rank_larger_than_the_matrix(model_pair, tmp_path, capsys):
    base_dir, rl_dir, _, _ = model_pair
    out = tmp_path / "f.safetensors"
    fails(capsys, decompose_args(base_dir, rl_dir, out, rank=99), "rank 99 exceeds", out=out)


def test_duplicate_checkpoint_steps(model_pair, tmp_path, capsys):
    _, rl_dir, _, _ = model_pair
    source = tmp_path / "run"
    source.mkdir()
    os.symlink(rl_dir, source / "checkpoint-10")
    os.symlink(rl_dir, source / "step-10")
    fails(
        capsys,
        [
            "collect",
            "--source",
            source,
            "--steps",
            10,
            "--out-dir",
            tmp_path / "c",
            "--manifest",
            tmp_path / "m.csv",
        ],
        "step 10 appears twice",
    )


def test_non_monotonic_steps(model_pair, tmp_path, capsys):
    _, rl_dir, _, _ = model_pair
    source = tmp_path / "run"
    source.mkdir()
    for step in (10, 20):
        os.symlink(rl_dir, source / f"checkpoint-{step}")
    fails(
        capsys,
        [
            "collect",
            "--source",
            source,
            "--steps",
            20,
            10,
            "--out-dir",
            tmp_path / "c",
            "--manifest",
            tmp_path / "m.csv",
        ],
        "strictly increasing",
    )


def test_checkpoint_folder_without_checkpoints(tmp_path, capsys):
    fails(
        capsys,
        [
            "collect",
            "--source",
            tmp_path,
            "--steps",
            1,
            "--out-dir",
            tmp_path / "c",
            "--manifest",
            tmp_path / "m.csv",
        ],
        "no checkpoint-<N>, step-<N> or global_step_<N> folders",
    )


def test_corrupt_factor_file(model_pair, tmp_path, capsys):
    base_dir, _, _, _ = model_pair
    factors = tmp_path / "f.safetensors"
    factors.write_bytes(b"not a safetensors file")
    out = tmp_path / "model"
    fails(
        capsys,
        ["build", "--base", base_dir, "--factors", factors, "--rank", 1, "--out", out],
        str(factors),
        out=out,
    )


def test_window_with_fewer_than_two_checkpoints(tmp_path, capsys):
    from rldynamics.dynamics.trajectories import save_series
    from tests.test_alpharl import planted_series

    series, _, _ = planted_series()
    save_series(tmp_path / "s.safetensors", series)
    out = tmp_path / "p.safetensors"
    fails(
        capsys,
        [
            "alpharl",
            "--series",
            tmp_path / "s.safetensors",
            "--fraction",
            0.15,
            "--variant",
            "prospective",
            "--out",
            out,
        ],
        "at least two",
        out=out,
    )


def score_with_data(tmp_path, text: str) -> tuple[list, str]:
    """An evaluate command on the toy task whose data file holds ``text``."""
    data = tmp_path / "bench.jsonl"
    data.write_text(text)
    task = str(REPO / "workflow/tasks/toy_arithmetic.yaml")
    spec = {
        "base": str(tmp_path),
        "models": [],
        "benchmarks": [{"name": "toy", "task": task, "data": str(data)}],
    }
    argv = [
        "evaluate",
        "--spec",
        json.dumps(spec),
        "--out-csv",
        tmp_path / "o.csv",
        "--out-json",
        tmp_path / "o.json",
    ]
    return argv, str(data)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ('{"question": "1+1=", "answer": "2"}\n{"question": "2+2="}\n', 2, "answer"),
        ("question,answer\n1+1=,2\n", 1, "not valid JSON"),
        ('["1+1=", "2"]\n', 1, "JSON object"),
    ],
)
def test_malformed_benchmark_file(tmp_path, capsys, text, line, message):
    argv, data = score_with_data(tmp_path, text)
    fails(capsys, argv, f"{data}:{line}", message)


def test_empty_benchmark_file(tmp_path, capsys):
    argv, data = score_with_data(tmp_path, "\n")
    fails(capsys, argv, data, "no items")


def test_unknown_backend(tmp_path, capsys):
    spec = {"base": str(tmp_path), "models": [], "benchmarks": [], "backend": "magic"}
    fails(
        capsys,
        [
            "evaluate",
            "--spec",
            json.dumps(spec),
            "--out-csv",
            tmp_path / "o.csv",
            "--out-json",
            tmp_path / "o.json",
        ],
        "evaluate.backend",
        "magic",
    )


def test_scoring_spec_that_is_not_json(tmp_path, capsys):
    fails(
        capsys,
        [
            "evaluate",
            "--spec",
            "{oops",
            "--out-csv",
            tmp_path / "o.csv",
            "--out-json",
            tmp_path / "o.json",
        ],
        "not valid JSON",
    )


def test_missing_results_table(tmp_path, capsys):
    fails(
        capsys,
        [
            "recovery",
            "--results",
            tmp_path / "none.csv",
            "--metric",
            "b=acc",
            "--final-step",
            10,
            "--out",
            tmp_path / "r.csv",
        ],
        "results table not found",
    )


def test_malformed_metric_option(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text("run,model_kind,step,k,lam,variant,benchmark,metric,value,n,stderr,grader\n")
    fails(
        capsys,
        [
            "recovery",
            "--results",
            table,
            "--metric",
            "acc",
            "--final-step",
            10,
            "--out",
            tmp_path / "r.csv",
        ],
        "BENCHMARK=METRIC",
    )


def dry_run(tmp_path, config: dict):
    base = yaml.safe_load((REPO / "config/config.yaml").read_text())
    base.update(config)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(base))
    return subprocess.run(
        [
            "snakemake",
            "-n",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(tmp_path / "c.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"run": "toy; rm -rf ~"}, "does not match"),
        ({"colour": "blue"}, "colour"),
        ({"base": {"source": "hf"}}, "base.repo is not set"),
        ({"checkpoints": {"source": "local"}}, "checkpoints.path is not set"),
        ({"alpharl": {"windows": [0.01]}}, "at least two"),
        (
            {"alpharl": {"windows": [0.5, {"end_step": 7, "label": "released"}]}},
            "alpharl.windows: window end step 7 is not a checkpoint",
        ),
        (
            {"alpharl": {"windows": [0.25, {"end_step": 50, "label": "quarter"}]}},
            "windows '25' and 'quarter' hold the same checkpoints",
        ),
        ({"alpharl": {"windows": [{"end_step": 50, "label": "Step 50"}]}}, "Step 50"),
        (
            {"alpharl": {"signals": {"official-code": {"benchmarks": ["math500"]}}}},
            "alpharl.signals.official-code.benchmarks: ['math500'] are not configured",
        ),
        (
            {"alpharl": {"signals": {"paper": {"metric": "pass@4"}}}},
            "alpharl.signals.paper.metric: pass@4 is not in the results table",
        ),
        (
            {"evaluate": {"budgets": {"trajectory": {"benchmarks": ["gsm8k"]}}}},
            "evaluate.budgets.trajectory.benchmarks: ['gsm8k'] are not configured",
        ),
        ({"dynamics": {"form": "official-code"}}, "dynamics.form 'official-code' was renamed"),
        ({"evaluate": {"backend": "tensorrt"}}, "tensorrt"),
    ],
)
def test_bad_config_stops_before_anything_runs(tmp_path, config, expected):
    proc = dry_run(tmp_path, config)
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
