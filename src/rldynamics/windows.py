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


def window_steps_to(steps: list[int], end_step: int) -> list[int]:
    """Checkpoint steps up to ``end_step``, which must be one of them; at least two."""
    if end_step not in steps:
        raise InputError(
            f"window end step {end_step} is not a checkpoint of the series "
            f"(steps {sorted(steps)[:3]} … {sorted(steps)[-3:]})"
        )
    chosen = [s for s in sorted(steps) if s <= end_step]
    if len(chosen) < 2:
        raise InputError(
            f"window ending at step {end_step} holds {len(chosen)} checkpoint(s) ({chosen}); "
            "the linear fit needs at least two"
        )
    return chosen


# A window label names an explicit window in file names and tables: a lower-case word, so it
# never reads as the percentage label of a fraction window.
WINDOW_LABEL = re.compile(r"^[a-z][a-z0-9_-]*$")


def window_label(window) -> str:
    """The label of a configured window: '10' for the fraction 0.1, or its own label."""
    if isinstance(window, dict):
        label = window.get("label")
        if not isinstance(label, str) or not WINDOW_LABEL.match(label):
            raise InputError(
                f"window {window}: its label must be a lower-case word ([a-z][a-z0-9_-]*)"
            )
        return label
    return f"{100 * window:g}"


STEP_FOLDER = re.compile(r"^(?:checkpoint|step)-(\d+)$")
# Trainer output folders directly under a source folder: TRL / transformers ``checkpoint-N``,
# this project's ``step-N``, verl's ``global_step_N``.
SOURCE_FOLDER = re.compile(r"^(?:checkpoint-|step-|global_step_)(\d+)$")
# Where a verl step folder keeps its HF-format model once verl's model merger has run.
VERL_HF_FOLDER = Path("actor/huggingface")


def _glob_steps(pattern: str) -> dict[int, Path]:
    """{step: folder} of the folders matching a glob whose first ``*`` holds the step."""
    import glob

    parts = re.split(r"(\*|\?)", pattern)
    regex = "".join(
        "([^/]*)" if part == "*" else "[^/]" if part == "?" else re.escape(part) for part in parts
    )
    found: dict[int, Path] = {}
    for match in sorted(glob.glob(pattern)):
        if not Path(match).is_dir():
            continue
        step_text = re.fullmatch(regex, match).group(1)
        if not step_text.isdigit():
            raise InputError(
                f"checkpoint glob {pattern}: the first '*' must match the step number, but "
                f"it matches '{step_text}' in {match}"
            )
        step = int(step_text)
        if step in found:
            raise InputError(f"{pattern}: step {step} matches twice ({found[step]}, {match})")
        found[step] = Path(match)
    if not found:
        raise InputError(f"checkpoint glob {pattern}: no folder matches")
    return found


def find_checkpoints(source: str | Path) -> dict[int, Path]:
    """{step: HF model folder} of a checkpoint series on disk.

    ``source`` is either a folder whose children are ``checkpoint-N``, ``step-N`` or
    ``global_step_N`` (verl; its ``actor/huggingface`` model is taken) folders, or a glob
    such as ``runs/exp/global_step_*/actor/merged`` whose first ``*`` matches the step.
    """
    if "*" in str(source):
        return _glob_steps(str(source))
    source = Path(source)
    if not source.is_dir():
        raise InputError(f"checkpoint source folder not found: {source}")
    found: dict[int, Path] = {}
    for child in sorted(source.iterdir()):
        match = SOURCE_FOLDER.match(child.name)
        if match and child.is_dir():
            step = int(match.group(1))
            if step in found:
                raise InputError(f"{source}: step {step} appears twice ({found[step]}, {child})")
            verl_model = child / VERL_HF_FOLDER
            found[step] = verl_model if verl_model.is_dir() else child
    if not found:
        raise InputError(
            f"{source}: no checkpoint-<N>, step-<N> or global_step_<N> folders "
            "(or give a glob whose first '*' matches the step)"
        )
    return found
