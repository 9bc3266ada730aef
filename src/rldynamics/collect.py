"""Lay out an RL checkpoint series as ``<out>/step-<N>/`` with a checksum manifest.

A source is a folder holding one HF model folder per checkpoint, named the way trainers name
them: ``checkpoint-<N>`` (TRL / transformers) or ``step-<N>``. Only safetensors weights and the
model's side files are taken; optimizer states and pickles are left behind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from rldynamics.errors import InputError
from rldynamics.io import MODEL_SIDE_FILES, ModelWeights, atomic_path, sha256_file, write_csv
from rldynamics.windows import find_checkpoints


def _link_or_copy(src: Path, dst: Path) -> None:
    # Link the file itself, not a symlink to it: the HF cache's snapshot files are relative
    # symlinks into its blobs, which would dangle in the new folder.
    src = src.resolve()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


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


def copy_model(source: str | Path, target: str | Path) -> ModelWeights:
    """Hard-link (or copy) an HF model folder's safetensors weights and side files."""
    source = Path(source)
    names = [p.name for p in ModelWeights(source).weight_files()]
    if (source / "model.safetensors.index.json").exists():
        names.append("model.safetensors.index.json")
    names += [n for n in MODEL_SIDE_FILES if (source / n).exists()]
    with atomic_path(target, directory=True) as tmp:
        for name in names:
            _link_or_copy(source / name, tmp / name)
    return ModelWeights(target)
