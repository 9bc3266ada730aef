"""`rldynamics forecast --checkpoints DIR`: the forecast of a run still training, from its
folder, through the pipeline's own rules (rldynamics.forecast.folder)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, tiny_weights, write_model

from rldynamics.cli import main
from rldynamics.forecast import folder as forecast_folder

TASK = REPO / "workflow/tasks/toy_arithmetic.yaml"
TARGET = 12  # the toy run's last step


def forecast_args(checkpoints, base, workdir, data, target=TARGET):
    return [
        "forecast",
        "--checkpoints",
        str(checkpoints),
        "--base",
        str(base),
        "--benchmark",
        f"toy_arithmetic={TASK}:{data}",
        "--target-step",
        str(target),
        "--workdir",
        str(workdir),
        "--cores",
        "2",
    ]


def forecast_output(folder, checkpoints, work=None):
    """The command's stdout, run as a user would (its snakemake jobs use this checkout)."""
    args = forecast_args(checkpoints, folder / "base", work or folder / "work", folder / "data")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "rldynamics", *args], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def toy_folder(finished_run, tmp_path_factory):
    """A copy of the reduced toy run's checkpoint folder as a run in progress: steps 2 and 4
    of 12 (its first third), the base and the test items beside it."""
    root = tmp_path_factory.mktemp("forecast-folder")
    run = finished_run / "results/ci"
    (root / "checkpoints").mkdir()
    for step in (2, 4):
        shutil.copytree(run / f"checkpoints/step-{step}", root / f"checkpoints/step-{step}")
    shutil.copytree(run / "models/base", root / "base")
    shutil.copy(run / "data/test.jsonl", root / "data")
    return root


@pytest.fixture(scope="module")
def folder_forecasts(toy_folder, finished_run):
    """The forecast at step 12 from steps 2 and 4, then, in the same work folder, from steps
    2, 4 and 6 (step 6 added to the folder as training went on)."""
    out = {2: forecast_output(toy_folder, toy_folder / "checkpoints")[0]}
    before = made_from(toy_folder / "work", 2)
    step6 = finished_run / "results/ci/checkpoints/step-6"
    shutil.copytree(step6, toy_folder / "checkpoints/step-6")
    out[3] = forecast_output(toy_folder, toy_folder / "checkpoints")[0]
    out["step 2 reused"] = before == made_from(toy_folder / "work", 2)
    return out


def made_from(work, step):
    """{file: mtime} of what one checkpoint made: its copy, its factors and its scores."""
    results = work / "results/forecast"
    scores = [
        p for p in (results / "eval/checkpoints").glob("*.json") if f'step-{step}"' in p.read_text()
    ]
    assert len(scores) == 1
    files = [
        results / f"checkpoints/step-{step}/model.safetensors",
        results / f"factors/k8/step-{step}.safetensors",
        scores[0],
    ]
    return {str(p): p.stat().st_mtime_ns for p in files}


@pytest.mark.slow
def test_two_checkpoints_give_a_forecast_without_an_interval(folder_forecasts):
    out = folder_forecasts[2]
    print(out)
    assert "Checkpoints read: 2, steps 2, 4;" in out
    assert "**no prediction interval** from 2 checkpoints" in out
    assert "Extrapolated model (AlphaRL `prospective`" in out and "over 40 items" in out
    assert "keep training to at least step 6 (a third checkpoint)" in out


@pytest.mark.slow
def test_a_third_checkpoint_gives_the_interval_and_reuses_the_work_folder(folder_forecasts):
    out = folder_forecasts[3]
    print(out)
    assert "Checkpoints read: 3, steps 2, 4, 6;" in out
    assert "- Forecast at step 12: **" in out and "95 % prediction interval [" in out
    assert "over 40 items" in out and "**Verdict** (tolerance ± 5 points):" in out
    assert folder_forecasts["step 2 reused"], "step 2 was copied, decomposed or scored again"


def link_layout(source: Path, target: Path, layout: str) -> Path:
    """The same checkpoints as a TRL (checkpoint-N) or verl (global_step_N/actor/huggingface)
    folder, each step a link to its step-N folder: the same folders, so the work folder's run
    is reused rather than redone."""
    for folder in sorted(source.iterdir()):
        step = folder.name.removeprefix("step-")
        name = f"checkpoint-{step}" if layout == "trl" else f"global_step_{step}/actor/huggingface"
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).symlink_to(folder.resolve(), target_is_directory=True)
    (target / "runs").mkdir()  # a trainer's other output, not a checkpoint
    return target


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["trl", "verl"])
def test_trl_and_verl_layouts_give_the_same_forecast(folder_forecasts, toy_folder, layout):
    folder = link_layout(toy_folder / "checkpoints", toy_folder / layout, layout)
    out, err = forecast_output(toy_folder, folder)
    assert out == folder_forecasts[3]
    assert "Nothing to be done" in err


# --- bad input: named before any snakemake call -----------------------------------------------


@pytest.fixture
def small_folder(tmp_path, monkeypatch):
    """Two tiny checkpoints, a base that matches them and the toy task's items; snakemake
    must not be called."""

    def no_snakemake(*args, **kwargs):
        raise AssertionError(f"snakemake was called: {args}")

    monkeypatch.setattr(forecast_folder.subprocess, "run", no_snakemake)
    for step in (5, 10):
        write_model(tmp_path / f"checkpoints/checkpoint-{step}", tiny_weights(step, layers=1))
    write_model(tmp_path / "base", tiny_weights(0, layers=1))
    (tmp_path / "data").write_text('{"question": "1+1", "answer": "2"}\n')
    return tmp_path


def fails(capsys, folder, *changes, target=TARGET, checkpoints=None, base=None):
    args = forecast_args(
        checkpoints or folder / "checkpoints",
        base or folder / "base",
        folder / "work",
        folder / "data",
        target,
    )
    assert main([*args, *changes]) == 2
    return capsys.readouterr().err


def test_bad_folder_inputs_are_named_before_any_pipeline_run(small_folder, capsys):
    folder = small_folder
    err = fails(capsys, folder, checkpoints=folder / "nowhere")
    assert f"checkpoint folder not found: {folder / 'nowhere'}" in err
    err = fails(capsys, folder, base=folder / "no-base")
    assert f"base model folder not found: {folder / 'no-base'}" in err
    err = fails(capsys, folder, target=10)
    assert "target step 10 is not after the last checkpoint" in err and "(step 10)" in err
    err = fails(capsys, folder, "--benchmark", "other=missing.yaml")
    assert "benchmark other: task YAML not found: missing.yaml" in err
    shutil.rmtree(folder / "checkpoints/checkpoint-10")
    err = fails(capsys, folder)
    assert "needs at least two checkpoints" in err and "found 1 (steps [5])" in err
    assert not (folder / "work").exists()


def test_a_base_that_does_not_match_the_checkpoints_names_the_tensor(small_folder, capsys):
    folder = small_folder
    wrong = tiny_weights(0, layers=1)
    wrong["model.layers.0.mlp.up_proj.weight"] = torch.zeros(21, 12)
    write_model(folder / "wrong-shape", wrong)
    err = fails(capsys, folder, base=folder / "wrong-shape")
    assert "tensor 'model.layers.0.mlp.up_proj.weight' has shape [21, 12] in the base" in err
    fewer = tiny_weights(0, layers=1)
    del fewer["model.norm.weight"]
    write_model(folder / "fewer", fewer)
    err = fails(capsys, folder, base=folder / "fewer")
    assert "tensor 'model.norm.weight' is in the checkpoint" in err and "not in the base" in err
    assert "checkpoint step 5" in err
