"""Model and checkpoint sources: local folders and globs (TRL, verl layouts) and the
offline-cache path of the hf source, on an HF cache these tests lay out themselves."""

from __future__ import annotations

import hashlib
import os

import pandas as pd
import pytest
import torch
import yaml

from rldynamics.checkpoints.series import find_checkpoints
from rldynamics.core.errors import InputError
from rldynamics.core.io import ModelWeights
from rldynamics.models.sources import download
from tests.conftest import snakemake, tiny_weights, write_model


def series(root, layout, steps=(2, 4, 6)):
    """Trainer output for ``steps``: {step: weights}, written in the given layout."""
    written = {}
    for step in steps:
        tensors = tiny_weights(step, layers=1)
        if layout == "trl":
            folder = root / f"checkpoint-{step}"
        elif layout == "verl":
            folder = root / f"global_step_{step}" / "actor" / "huggingface"
            # verl keeps its FSDP shards beside the merged model; they are never read.
            (root / f"global_step_{step}" / "actor").mkdir(parents=True)
            (root / f"global_step_{step}" / "actor" / "model_world_size_1_rank_0.pt").write_text("")
        write_model(folder, tensors)
        written[step] = tensors
    return written


def test_folder_of_trl_checkpoints(tmp_path):
    series(tmp_path, "trl")
    (tmp_path / "runs").mkdir()  # other folders are ignored
    found = find_checkpoints(tmp_path)
    assert sorted(found) == [2, 4, 6] and found[4] == tmp_path / "checkpoint-4"


def test_folder_of_verl_steps_takes_the_merged_model(tmp_path):
    series(tmp_path, "verl")
    found = find_checkpoints(tmp_path)
    assert found[6] == tmp_path / "global_step_6/actor/huggingface"
    assert "model.layers.0.mlp.up_proj.weight" in ModelWeights(found[6]).files


def test_glob_whose_first_star_is_the_step(tmp_path):
    series(tmp_path, "verl")
    found = find_checkpoints(f"{tmp_path}/global_step_*/actor/huggingface")
    assert sorted(found) == [2, 4, 6]


def test_glob_whose_star_is_not_a_step_is_refused(tmp_path):
    (tmp_path / "run-a" / "final").mkdir(parents=True)
    with pytest.raises(InputError, match="must match the step number.*'a'"):
        find_checkpoints(f"{tmp_path}/run-*/final")
    with pytest.raises(InputError, match="no folder matches"):
        find_checkpoints(f"{tmp_path}/nothing-*")


def test_verl_actor_without_merged_model_names_the_converter(tmp_path):
    actor = tmp_path / "global_step_3" / "actor"
    actor.mkdir(parents=True)
    (actor / "model_world_size_8_rank_0.pt").write_text("")
    found = find_checkpoints(f"{tmp_path}/global_step_*/actor")
    with pytest.raises(InputError, match="verl.model_merger"):
        ModelWeights(found[3])


# --- the hf source on a local HF cache ----------------------------------------------------


def hf_cache(home, repo, tensors, commit):
    """Lay out ``repo`` in an HF cache as huggingface_hub does: blobs named by their sha256,
    a snapshot folder of symlinks per commit, and refs/main naming the commit."""
    folder = home / "hub" / ("models--" + repo.replace("/", "--"))
    staging = write_model(home / "staging" / repo, tensors)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir()
    for path in staging.iterdir():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        path.rename(folder / "blobs" / digest)
        (snapshot / path.name).symlink_to(os.path.relpath(folder / "blobs" / digest, snapshot))
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # huggingface_hub reads HF_HOME and HF_HUB_OFFLINE when it is imported.
    import importlib

    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)
    yield home
    monkeypatch.undo()
    importlib.reload(huggingface_hub.constants)


def test_hf_source_reads_the_offline_cache(offline_hub, tmp_path):
    tensors = tiny_weights(3, layers=1)
    hf_cache(offline_hub, "toyorg/base", tensors, "a" * 40)
    model = tmp_path / "base"
    download("toyorg/base", "main", model)
    got = ModelWeights(model)
    assert set(got.files) == set(tensors)
    assert torch.equal(
        got.get("model.layers.0.mlp.up_proj.weight"), tensors["model.layers.0.mlp.up_proj.weight"]
    )
    # A pinned commit resolves too.
    download("toyorg/base", "a" * 40, tmp_path / "pinned")


def test_hf_source_names_what_the_cache_lacks(offline_hub, tmp_path):
    hf_cache(offline_hub, "toyorg/base", tiny_weights(3, layers=1), "a" * 40)
    with pytest.raises(InputError, match="toyorg/base@" + "b" * 40 + ": not in the local HF cache"):
        download("toyorg/base", "b" * 40, tmp_path / "out")
    with pytest.raises(InputError, match="toyorg/other@main"):
        download("toyorg/other", "main", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_hf_token_comes_from_the_environment_only(monkeypatch, tmp_path):
    import huggingface_hub

    seen = []

    def fake_snapshot_download(**kwargs):
        seen.append(kwargs["token"])
        return str(write_model(tmp_path / f"snap{len(seen)}", tiny_weights(0, layers=1)))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    download("toyorg/base", "main", tmp_path / "a")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    download("toyorg/base", "main", tmp_path / "b")
    assert seen == [False, "hf_secret"]


# --- the sources through the pipeline -----------------------------------------------------


def run_targets(workdir, config, targets, env):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return snakemake(workdir, *targets, env=env)


def check_manifest(manifest, steps):
    table = pd.read_csv(manifest)
    assert sorted(table["step"].unique()) == steps
    for row in table.itertuples():
        data = (manifest.parent / f"step-{row.step}" / row.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256


@pytest.mark.slow
def test_pipeline_collects_a_verl_glob_and_a_local_base(tmp_path):
    series(tmp_path / "verl", "verl")
    write_model(tmp_path / "base-model", tiny_weights(0, layers=1))
    config = {
        "run": "local",
        "base": {"source": "local", "path": str(tmp_path / "base-model")},
        "checkpoints": {
            "source": "local",
            "path": f"{tmp_path}/verl/global_step_*/actor/huggingface",
        },
        "alpharl": {"windows": [1.0]},
    }
    out = tmp_path / "work/results/local"
    (tmp_path / "work").mkdir()
    targets = ["results/local/checkpoints/manifest.csv", "results/local/models/base"]
    proc = run_targets(tmp_path / "work", config, targets, dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_manifest(out / "checkpoints/manifest.csv", [2, 4, 6])
    assert "global_step_4/actor/huggingface" in (out / "checkpoints/manifest.csv").read_text()


@pytest.mark.slow
def test_pipeline_downloads_from_an_offline_hf_cache(tmp_path):
    home = tmp_path / "hf-home"
    hf_cache(home, "toyorg/base", tiny_weights(0, layers=1), "c" * 40)
    for step in (1, 2):
        hf_cache(home, f"toyorg/rl-step-{step}", tiny_weights(step, layers=1), f"{step}" * 40)
    config = {
        "run": "hub",
        "base": {"source": "hf", "repo": "toyorg/base", "revision": "c" * 40},
        "checkpoints": {"source": "hf", "repo": "toyorg/rl-step-{step}", "steps": [1, 2]},
        "alpharl": {"windows": [1.0]},
    }
    env = dict(os.environ, HF_HOME=str(home), HF_HUB_OFFLINE="1")
    env.pop("HF_TOKEN", None)
    (tmp_path / "work").mkdir()
    out = tmp_path / "work/results/hub"
    targets = ["results/hub/checkpoints/manifest.csv", "results/hub/models/base"]
    proc = run_targets(tmp_path / "work", config, targets, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_manifest(out / "checkpoints/manifest.csv", [1, 2])
    assert torch.equal(
        ModelWeights(out / "checkpoints/step-2").get("model.embed_tokens.weight"),
        tiny_weights(2, layers=1)["model.embed_tokens.weight"],
    )


def test_manifest_command_checksums_step_folders_and_names_a_bad_one(tmp_path, capsys):
    import pandas as pd

    from rldynamics.cli import main

    folders = [write_model(tmp_path / f"step-{s}", tiny_weights(s, layers=1)) for s in (5, 10)]
    out = tmp_path / "manifest.csv"
    sources = ["run/checkpoint-5", "run/checkpoint-10"]
    args = ["manifest", "--out", str(out), *map(str, folders), "--sources", *sources]
    assert main(args) == 0
    manifest = pd.read_csv(out)
    assert list(manifest["step"]) == [5, 10] and list(manifest["source"]) == sources
    assert manifest["sha256"].str.len().eq(64).all()

    (tmp_path / "final").mkdir()
    assert main(["manifest", "--out", str(tmp_path / "m2.csv"), str(tmp_path / "final")]) == 2
    assert "not a step-<N> or checkpoint-<N> folder" in capsys.readouterr().err
