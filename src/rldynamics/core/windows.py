"""The early windows of a run: which evaluated checkpoints a window holds, and its label.

Plain Python with no heavy imports: the DAG (common.smk, run by every cluster job) uses it.
"""

from __future__ import annotations

import re

from rldynamics.core.errors import InputError


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
