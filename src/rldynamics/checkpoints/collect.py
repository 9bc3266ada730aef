"""Lay out an RL checkpoint series as ``<out>/step-<N>/`` with a checksum manifest.

A source is a folder holding one HF model folder per checkpoint, named the way trainers name
them: ``checkpoint-<N>`` (TRL / transformers), ``step-<N>`` or verl's ``global_step_<N>``
(:func:`rldynamics.checkpoints.series.find_checkpoints`). Only safetensors weights and the
model's side files are taken; optimizer states and pickles are left behind.
"""

from __future__ import annotations

from pathlib import Path

from rldynamics.checkpoints.series import find_checkpoints
from rldynamics.core.errors import InputError
from rldynamics.core.io import ModelWeights, sha256_file, write_csv
from rldynamics.models.sources import copy_model


def collect(source: str | Path, steps: list[int], out_dir: str | Path, manifest: str | Path):
    """Copy (hard-link where possible) the wanted steps and write the manifest."""
    available = find_checkpoints(source)
    missing = [s for s in steps if s not in available]
    if missing:
        raise InputError(
            f"{source}: no checkpoint for steps {missing}; found {sorted(available)[:10]}"
        )
    if sorted(set(steps)) != list(steps):
        raise InputError(f"checkpoint steps must be strictly increasing, got {steps}")
    for step in steps:
        copy_model(available[step], Path(out_dir) / f"step-{step}")
    write_manifest({s: Path(out_dir) / f"step-{s}" for s in steps}, manifest, available)


def write_manifest(folders: dict[int, Path], manifest, sources: dict | None = None) -> None:
    """One row per weight file of every step: step, path, file, sha256, source."""
    import pandas as pd

    rows = []
    for step, folder in sorted(folders.items()):
        for path in ModelWeights(folder).weight_files():
            rows.append(
                {
                    "step": step,
                    "path": str(folder),
                    "file": path.name,
                    "sha256": sha256_file(path),
                    "source": str((sources or {}).get(step, folder)),
                }
            )
    write_csv(manifest, pd.DataFrame(rows))
