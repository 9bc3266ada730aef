"""AlphaRL: extrapolate the rank-1 update from an early window of checkpoints (AlphaRL §5).

Three readings, each a named variant (METHOD §5):

| variant | trajectory x_t | signs | fit against | target | added to |
|---|---|---|---|---|---|
| paper | ‖ΔW_t‖F·u1(t) | backward, whole run | accuracy / final accuracy | y* = 1 | W0 |
| official-code | σ1(t)·u1(t) | backward, whole run | raw accuracy | y* (1.7) | W at window end |
| prospective | ‖ΔW_t‖F·u1(t) | forward, window only | the step t | step T | W0 |

``paper`` and ``official-code`` fit the one-component PLS + OLS of :mod:`rldynamics.dynamics`
and invert it at y*; ``prospective`` fits every coordinate of x_t linearly in t and evaluates
it at T, so it reads nothing from after the window. The predicted û is paired with v1 of the
last window checkpoint (ΔŴ = û v1ᵀ) and written as a rank-1 factor file; its metadata lists
the checkpoints and accuracies the prediction read.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rldynamics.dynamics import (
    Series,
    aligned_trajectories,
    fit_linear,
    load_series_file,
    window_series,
)
from rldynamics.errors import InputError
from rldynamics.io import save_tensors
from rldynamics.windows import window_steps

VARIANTS = {
    "paper": {"form": "fro-u1", "alignment": "backward", "container": "base"},
    "official-code": {"form": "sigma1-u1", "alignment": "backward", "container": "window-end"},
    "prospective": {"form": "fro-u1", "alignment": "forward", "container": "base"},
}


def linear_in_step(X: np.ndarray, steps: list[int], target_step: float) -> np.ndarray:
    """Least-squares line through every coordinate of X [w, d] against step, at target_step."""
    t = np.asarray(steps, dtype=np.float64)
    t_mean = t.mean()
    slope = ((t - t_mean) @ (X - X.mean(axis=0))) / ((t - t_mean) @ (t - t_mean))
    return X.mean(axis=0) + (target_step - t_mean) * slope


def predict_updates(
    series: Series,
    variant: str,
    window: list[int],
    accuracy: dict[int, float] | None = None,
    target: float = 1.0,
    target_step: int | None = None,
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], dict]:
    """{module: (û [m], v1 [n])} and what the prediction read, for one variant and window."""
    if variant not in VARIANTS:
        raise InputError(f"AlphaRL variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    spec = VARIANTS[variant]
    last = max(series.steps)
    if variant == "prospective":
        # Only the window: alignment, fit and target use nothing after it.
        seen = window_series(series, window)
        trajectories = aligned_trajectories(seen, spec["form"], spec["alignment"])
        goal = float(target_step if target_step is not None else last)
        out = {
            module: (torch.from_numpy(linear_in_step(X.double().numpy(), window, goal)), V[-1])
            for module, (X, V) in trajectories.items()
        }
        read = {"checkpoints": window, "accuracies": [], "target_step": goal}
        return out, read
    if accuracy is None:
        raise InputError(f"variant {variant!r} needs the checkpoints' accuracies")
    missing = [s for s in [*window, last] if s not in accuracy]
    if missing:
        raise InputError(f"no accuracy for checkpoint steps {missing}")
    trajectories = aligned_trajectories(series, spec["form"], spec["alignment"])
    rows = [series.steps.index(s) for s in window]
    y = np.array([accuracy[s] for s in window])
    accuracies_read = list(window)
    if variant == "paper":
        if accuracy[last] <= 0:
            raise InputError(f"final accuracy is {accuracy[last]}: relative accuracy undefined")
        y = y / accuracy[last]
        accuracies_read.append(last)
    out = {}
    for module, (X, V) in trajectories.items():
        fit = fit_linear(X[rows].double().numpy(), y, module)
        out[module] = (torch.from_numpy(fit.predict_x(target)), V[rows[-1]])
    read = {"checkpoints": list(series.steps), "accuracies": accuracies_read, "target": target}
    return out, read


def predict(
    series_file: str | Path,
    accuracy: dict[int, float] | None,
    fraction: float,
    out: str | Path,
    variant: str = "paper",
    target: float = 1.0,
    target_step: int | None = None,
) -> dict:
    """Write the predicted rank-1 update of every module as a factor file; returns metadata."""
    series = load_series_file(series_file)
    window = window_steps(series.steps, fraction)
    updates, read = predict_updates(series, variant, window, accuracy, target, target_step)
    tensors, ratios = {}, []
    for module, (u_hat, v_last) in updates.items():
        u_hat = u_hat.float()
        norm = torch.linalg.norm(u_hat)
        if not torch.isfinite(norm):
            raise InputError(f"{series_file}: the prediction for {module} is not finite")
        tensors[f"{module}.U"] = (u_hat / norm if norm > 0 else u_hat)[:, None].contiguous()
        tensors[f"{module}.S"] = norm.reshape(1).clone()
        tensors[f"{module}.V"] = v_last[:, None].float().contiguous()
        tensors[f"{module}.fro"] = norm.reshape(()).clone()
        last_row = series.steps.index(window[-1])
        ratios.append(float(norm / max(float(series.fro[module][last_row]), 1e-30)))
    after = [s for s in read["checkpoints"] if s > window[-1]]
    info = {
        "variant": variant,
        **VARIANTS[variant],
        "window_fraction": fraction,
        "window_steps": window,
        "window_end_step": window[-1],
        "checkpoints_read": read["checkpoints"],
        "checkpoints_read_after_window": after,
        "accuracies_read": read["accuracies"],
        "target": read.get("target"),
        "target_step": read.get("target_step"),
        "rank": 1,
        "median_norm_ratio_to_window_end": float(np.median(ratios)) if ratios else math.nan,
    }
    save_tensors(out, tensors, info)
    return info
