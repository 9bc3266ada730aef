import json
import subprocess
import sys
from pathlib import Path

import pytest

from rldynamics.cli import main


def test_bad_input_ends_with_a_named_error_and_no_traceback(tmp_path, capsys):
    code = main(
        [
            "decompose",
            "--base",
            str(tmp_path / "nope"),
            "--checkpoint",
            str(tmp_path),
            "--rank",
            "2",
            "--out",
            str(tmp_path / "f.safetensors"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "model folder not found" in err and "nope" in err and "Traceback" not in err
    assert not (tmp_path / "f.safetensors").exists()


def test_bad_rank_is_named(model_pair, tmp_path, capsys):
    base_dir, rl_dir, _, _ = model_pair
    code = main(
        [
            "decompose",
            "--base",
            str(base_dir),
            "--checkpoint",
            str(rl_dir),
            "--rank",
            "many",
            "--out",
            str(tmp_path / "f.safetensors"),
        ]
    )
    assert code == 2 and "'many'" in capsys.readouterr().err


def test_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "rldynamics", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "rldynamics" in proc.stdout


def test_cuda_asked_for_without_cuda_is_named(model_pair, tmp_path, capsys):
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    base_dir, rl_dir, _, _ = model_pair
    out = tmp_path / "f.safetensors"
    args = ["decompose", "--base", str(base_dir), "--checkpoint", str(rl_dir), "--rank", "2"]
    code = main([*args, "--out", str(out), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and "CUDA is not available" in err and "Traceback" not in err
    assert not out.exists()


def test_decompose_and_build_by_hand_with_the_new_flags(model_pair, tmp_path, capsys):
    base_dir, rl_dir, _, _ = model_pair
    out, csv = tmp_path / "f.safetensors", tmp_path / "m.csv"
    args = ["decompose", "--base", str(base_dir), "--checkpoint", str(rl_dir), "--rank", "2"]
    args += ["--out", str(out), "--method", "exact", "--device", "cpu", "--metrics-out", str(csv)]
    assert main([*args, "--angle-ranks", "1", "2", "--run", "r", "--step", "3"]) == 0
    assert out.exists() and csv.exists()
    built = tmp_path / "model"
    build = ["build", "--base", str(base_dir), "--factors", str(out), "--rank", "1"]
    assert main([*build, "--rest", "rl", "--out", str(built)]) == 0
    assert (built / "model.safetensors").exists()
    table = tmp_path / "table.csv"
    assert main(["parameter-table", "--out", str(table), str(csv)]) == 0
    figs = tmp_path / "figs"
    assert (
        main(["parameter-figures", "--table", str(table), "--run", "r", "--out-dir", str(figs)])
        == 0
    )
    assert sorted(p.name for p in figs.iterdir()) == [
        f"{n}.{e}"
        for n in ("principal_angles", "spectral_drift", "update_sparsity")
        for e in ("pdf", "png")
    ]
    capsys.readouterr()
    assert (
        main(
            [
                "parameter-figures",
                "--table",
                str(tmp_path / "no.csv"),
                "--run",
                "r",
                "--out-dir",
                str(figs),
            ]
        )
        == 2
    )
    assert "parameter-metric table not found" in capsys.readouterr().err


def test_a_batch_of_checkpoints_gives_each_the_files_of_its_own_job(model_pair, tmp_path):
    """One process for several checkpoints (the pipeline's decompose batches): each factor
    file holds the tensors and metadata, and each metrics table the bytes, that a job of its
    own writes."""
    import torch

    from tests.conftest import write_model

    base_dir, rl_dir, base, _ = model_pair
    gen = torch.Generator().manual_seed(2)
    later = {k: v + 0.02 * torch.randn(v.shape, generator=gen) for k, v in base.items()}
    later_dir = write_model(tmp_path / "rl-later", later)
    common = ["decompose", "--base", str(base_dir), "--rank", "2", "--device", "cpu"]
    common += ["--angle-ranks", "1", "2", "--run", "r"]
    base_metrics = tmp_path / "w0.safetensors"
    w0 = ["base-metrics", "--base", str(base_dir), "--out", str(base_metrics)]
    assert main([*w0, "--angle-ranks", "1", "2", "--device", "cpu"]) == 0
    common += ["--base-metrics", str(base_metrics)]
    batch = tmp_path / "batch"
    args = [*common, "--checkpoint", str(rl_dir), str(later_dir), "--steps", "5", "10"]
    assert main([*args, "--out-dir", str(batch), "--metrics-out-dir", str(batch)]) == 0
    assert sorted(p.name for p in batch.iterdir()) == [
        "step-10.csv",
        "step-10.safetensors",
        "step-5.csv",
        "step-5.safetensors",
    ]
    for step, folder in (("5", rl_dir), ("10", later_dir)):
        one = tmp_path / f"one-{step}"
        single = [*common, "--checkpoint", str(folder), "--step", step]
        single += ["--out", str(one / "f.safetensors"), "--metrics-out", str(one / "m.csv")]
        assert main(single) == 0
        assert same_safetensors(batch / f"step-{step}.safetensors", one / "f.safetensors")
        assert (batch / f"step-{step}.csv").read_text() == (one / "m.csv").read_text()


def same_safetensors(left, right) -> bool:
    """Equal metadata and tensors (the header's key order varies from one write to the next)."""
    from safetensors import safe_open

    with safe_open(left, "pt") as a, safe_open(right, "pt") as b:
        if a.metadata() != b.metadata() or set(a.keys()) != set(b.keys()):
            return False
        return all(a.get_tensor(k).equal(b.get_tensor(k)) for k in a.keys())


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--out", "f", "--checkpoint", "a", "b"], "--out names one factor file but 2"),
        (["--checkpoint", "a"], "give --out (one checkpoint) or --out-dir"),
        (["--out", "f", "--out-dir", "d", "--checkpoint", "a"], "--out and --out-dir"),
        (["--out-dir", "d", "--checkpoint", "a", "b", "--steps", "1"], "one distinct step per"),
        (["--out-dir", "d", "--checkpoint", "a", "b", "--steps", "1", "1"], "distinct step"),
        (["--out-dir", "d", "--checkpoint", "a", "--steps", "1", "--step", "1"], "--steps"),
        (["--out", "f", "--checkpoint", "a", "--steps", "1"], "go with --out-dir"),
        (
            ["--out-dir", "d", "--checkpoint", "a", "--steps", "1", "--base-metrics", "w"],
            "--base-metrics is used with --metrics-out-dir",
        ),
    ],
)
def test_decompose_names_the_flags_that_do_not_fit(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)  # the flags' relative paths: nothing may be written there
    code = main(["decompose", "--base", str(tmp_path / "b"), "--rank", "2", *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_parameters_command_names_a_missing_folder(tmp_path, capsys):
    code = main(
        [
            "parameters",
            "--base",
            str(tmp_path / "b"),
            "--checkpoint",
            str(tmp_path),
            "--out",
            str(tmp_path / "m.csv"),
        ]
    )
    assert code == 2 and "model folder not found" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()


# --- every command's --help, against the snapshot taken before the package was laid out by
# stage (tests/data/cli_help.json, from `rldynamics <command> --help` at 100 columns): only
# the order of the commands may differ, and the module a help line names, which follows it.

HELP_SNAPSHOT = Path(__file__).parent / "data" / "cli_help.json"
MOVED_MODULES = {
    "rldynamics.grading": "rldynamics.core.grading",
    "(see evaluate.py)": "(see evaluate/job.py)",
}


def command_helps(parser) -> tuple[dict[str, str], dict[str, str]]:
    """({command: its one-line help}, {command: its --help text}) of a parser."""
    import argparse

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summary = {action.dest: action.help for action in sub._choices_actions}
    return summary, {name: p.format_help() for name, p in sub.choices.items()}


def test_every_command_keeps_its_help(monkeypatch):
    from rldynamics.cli import build_parser

    monkeypatch.setenv("COLUMNS", "100")
    snapshot = json.loads(HELP_SNAPSHOT.read_text())
    summary, helps = command_helps(build_parser())
    assert summary == snapshot["commands"]
    for command, text in snapshot["help"].items():
        for old, new in MOVED_MODULES.items():
            text = text.replace(old, new)
        assert helps[command] == text, command
