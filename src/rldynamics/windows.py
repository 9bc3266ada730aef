"""Checkpoint steps: finding a series on disk and the early windows of a run.

Plain Python with no heavy imports: the DAG (common.smk, run by every cluster job) uses it.
"""

from __future__ import annotations

import re
from pathlib import Path

from rldynamics.errors import InputError


def window_steps(steps: list[int], fraction: float) -> list[int]:
    """Checkpoint steps within the first ``fraction`` of the run (by step count), at least two."""
    if not 0 < fraction <= 1:
        raise InputError(f"window fraction must be in (0, 1], got {fraction}")
    if not steps:
        raise InputError("the checkpoint series is empty")
    last = max(steps)
    chosen = [s for s in sorted(steps) if s <= fraction * last + 1e-9]
    if len(chosen) < 2:
        raise InputError(
            f"window {fraction:.0%} of {last} steps holds {len(chosen)} checkpoint(s) "
            f"({chosen}); the linear fit needs at least two"
        )
    return chosen


STEP_FOLDER = re.compile(r"^(?:checkpoint|step)-(\d+)$")


def find_checkpoints(source: str | Path) -> dict[int, Path]:
    """{step: folder} of every checkpoint folder directly under ``source``."""
    source = Path(source)
    if not source.is_dir():
        raise InputError(f"checkpoint source folder not found: {source}")
    found: dict[int, Path] = {}
    for child in sorted(source.iterdir()):
        match = STEP_FOLDER.match(child.name)
        if match and child.is_dir():
            step = int(match.group(1))
            if step in found:
                raise InputError(f"{source}: step {step} appears twice ({found[step]}, {child})")
            found[step] = child
    if not found:
        raise InputError(f"{source}: no checkpoint-<N> or step-<N> folders")
    return found
