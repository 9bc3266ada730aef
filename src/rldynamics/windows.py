"""Which checkpoints fall in an early window of the run (no heavy imports: the DAG uses it)."""

from __future__ import annotations

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
