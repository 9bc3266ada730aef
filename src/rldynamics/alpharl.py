"""AlphaRL: extrapolate the rank-1 update from an early window of checkpoints (AlphaRL §5).

Variant ``paper`` (the paper's text): trajectory x_t = ‖ΔW_t‖F·u1(t), accuracies relative to
the full run's final accuracy, target y* = 1, the prediction added to the base weights.
Per module: fit the one-component PLS + OLS of :mod:`rldynamics.dynamics` on the window,
invert it at y*, and pair the predicted û with v1 of the last window checkpoint:
ΔŴ = û v1ᵀ. The result is written as a rank-1 factor file, so the ordinary rank-k build
(``scale=none``) turns it into a model.

What this variant reads from outside the window is recorded in the file's metadata: the final
accuracy (relative target) and, through backward sign alignment, the later checkpoints.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rldynamics.dynamics import fit_linear, load_trajectories
from rldynamics.errors import InputError
from rldynamics.io import save_tensors
from rldynamics.windows import window_steps

VARIANTS = ("paper",)


def predict(
    trajectory_file: str | Path,
    accuracy: dict[int, float],
    fraction: float,
    out: str | Path,
    variant: str = "paper",
    target: float = 1.0,
) -> dict:
    """Write the predicted rank-1 update of every module as a factor file; returns metadata."""
    if variant not in VARIANTS:
        raise InputError(f"AlphaRL variant must be one of {VARIANTS}, got {variant!r}")
    trajectories, steps, meta = load_trajectories(trajectory_file)
    if meta.get("form") != "paper":
        raise InputError(f"{trajectory_file}: variant 'paper' needs the 'paper' trajectory form")
    window = window_steps(steps, fraction)
    missing = [s for s in window + [max(steps)] if s not in accuracy]
    if missing:
        raise InputError(f"no accuracy for checkpoint steps {missing}")
    final_accuracy = accuracy[max(steps)]
    if final_accuracy <= 0:
        raise InputError(f"final accuracy is {final_accuracy}: relative accuracy is undefined")
    rows = [steps.index(s) for s in window]
    y = np.array([accuracy[s] / final_accuracy for s in window])
    tensors = {}
    extrapolation = []
    for module, (X, V) in trajectories.items():
        fit = fit_linear(X[rows].numpy(), y, module)
        u_hat = torch.from_numpy(fit.predict_x(target)).float()
        norm = torch.linalg.norm(u_hat)
        v_last = V[rows[-1]]
        tensors[f"{module}.U"] = (u_hat / norm if norm > 0 else u_hat)[:, None]
        tensors[f"{module}.S"] = norm.reshape(1).clone()
        tensors[f"{module}.V"] = v_last[:, None].contiguous()
        tensors[f"{module}.fro"] = norm.reshape(())
        # How far beyond the window the prediction goes, in units of the last window norm.
        extrapolation.append(float(norm / max(torch.linalg.norm(X[rows[-1]]), 1e-30)))
    info = {
        "variant": variant,
        "window_fraction": fraction,
        "window_steps": window,
        "target": target,
        "target_kind": "relative accuracy (final checkpoint = 1)",
        "reads_checkpoints_after_window": [s for s in steps if s > window[-1]],
        "reads_reason": "backward sign alignment from the last checkpoint; relative target",
        "container": "base",
        "rank": 1,
        "median_norm_ratio_to_last_window": float(np.median(extrapolation)),
    }
    if not all(math.isfinite(v) for v in extrapolation):
        raise InputError(f"{trajectory_file}: the prediction is not finite for some module")
    save_tensors(out, tensors, info)
    return info
