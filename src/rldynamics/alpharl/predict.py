"""AlphaRL: extrapolate the rank-1 update from an early window of checkpoints (AlphaRL §5).

Four readings, each a named variant (METHOD §5; :data:`rldynamics.core.variants.VARIANTS`):

| variant | trajectory x_t | signs | fit against | target | added to | model dtype |
|---|---|---|---|---|---|---|
| paper | ‖ΔW_t‖F·u1(t) | backward | accuracy / final accuracy | y* = 1 | W0 | base's |
| official-code | σ1(t)·u1(t) | backward | raw accuracy | y* (1.7) | W at window end | float32 |
| prospective | ‖ΔW_t‖F·u1(t) | forward | the step t | step T | W0 | base's |
| relex | flattened ΔW_t (top direction over time) | — | the step t | step T | W0 | base's |

``paper`` and ``official-code`` fit the one-component PLS + OLS of
:mod:`rldynamics.dynamics.trajectories` to an accuracy signal (the benchmarks and metric of
the variant's ``alpharl.signals`` entry) and invert it at y*; ``prospective`` fits every
coordinate of x_t linearly in t and evaluates it at T. ``relex``
(:mod:`rldynamics.alpharl.relex`, the RELEX paper's method beside AlphaRL's) reads the
window's checkpoint weights rather than their rank-1 series.

What each reads from after the window: sign alignment is chained step to step, so aligning
backward from the run's last checkpoint (the released code) or from the window's last one, or
forward, gives the same relative signs inside the window, at most one global sign apart, which
the fit absorbs (x̂ and v1 flip together). Every variant therefore aligns, fits and predicts
from the window's checkpoints alone; the only use of the future is ``paper``'s relative
accuracy, divided by the final checkpoint's accuracy. The predicted û is paired with v1 of the
last window checkpoint (ΔŴ = û v1ᵀ) and written as a rank-1 factor file; its metadata lists
the checkpoints and accuracies the prediction read, and the signal.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rldynamics.core.errors import InputError
from rldynamics.core.io import save_tensors
from rldynamics.core.variants import VARIANT_RANKS, VARIANTS, WEIGHT_VARIANTS, check_variant
from rldynamics.core.windows import window_steps, window_steps_to
from rldynamics.dynamics.trajectories import (
    Series,
    aligned_trajectories,
    fit_linear,
    load_series_file,
    window_series,
)


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
    """{module: (û [m], v1 [n])} and what the prediction read, for one variant and window.

    Only the window's rows of ``series`` are read; ``paper`` also reads the accuracy of the
    series' last step (its normaliser).
    """
    spec = check_variant(variant)
    last = max(series.steps)
    missing_steps = [s for s in window if s not in series.steps]
    if missing_steps:
        raise InputError(f"window steps {missing_steps} are not in the rank-1 series")
    seen = window_series(series, window)
    trajectories = aligned_trajectories(seen, spec["form"], spec["alignment"])
    if variant == "prospective":
        goal = float(target_step if target_step is not None else last)
        out = {
            module: (torch.from_numpy(linear_in_step(X.double().numpy(), window, goal)), V[-1])
            for module, (X, V) in trajectories.items()
        }
        read = {"checkpoints": list(window), "accuracies": [], "target_step": goal}
        return out, read
    if accuracy is None:
        raise InputError(f"variant {variant!r} needs the checkpoints' accuracies")
    needed = [*window, last] if variant == "paper" else list(window)
    missing = [s for s in needed if s not in accuracy]
    if missing:
        raise InputError(f"no accuracy for checkpoint steps {missing}")
    y = np.array([accuracy[s] for s in window])
    accuracies_read = list(window)
    if variant == "paper":
        if accuracy[last] <= 0:
            raise InputError(f"final accuracy is {accuracy[last]}: relative accuracy undefined")
        y = y / accuracy[last]
        accuracies_read.append(last)
    out = {}
    for module, (X, V) in trajectories.items():
        fit = fit_linear(X.double().numpy(), y, module)
        out[module] = (torch.from_numpy(fit.predict_x(target)), V[-1])
    read = {"checkpoints": list(window), "accuracies": accuracies_read, "target": target}
    return out, read


def predict(
    series_file: str | Path,
    accuracy: dict[int, float] | None,
    fraction: float | None,
    out: str | Path,
    variant: str = "paper",
    target: float = 1.0,
    target_step: int | None = None,
    end_step: int | None = None,
    window_label: str | None = None,
    signal: str | None = None,
    base: str | Path | None = None,
    checkpoints: str | Path | None = None,
) -> dict:
    """Write the predicted update of every module as a factor file; returns metadata.

    The window is the first ``fraction`` of the run's steps, or every checkpoint up to
    ``end_step`` (exactly one of the two). ``signal`` names the accuracy the fit read.
    ``relex`` also reads the ``base`` model and the ``checkpoints`` folder (any layout
    :func:`rldynamics.checkpoints.series.find_checkpoints` reads).
    """
    if (fraction is None) == (end_step is None):
        raise InputError("an AlphaRL window is a fraction or an end step (exactly one)")
    series = load_series_file(series_file)
    if end_step is not None:
        window = window_steps_to(series.steps, end_step)
    else:
        window = window_steps(series.steps, fraction)
    if variant in WEIGHT_VARIANTS:
        tensors, ratios, read = _relex_factors(
            series, window, base, checkpoints, target_step, series_file
        )
    else:
        updates, read = predict_updates(series, variant, window, accuracy, target, target_step)
        tensors, ratios = _rank1_factors(series, window, updates, series_file)
    after = [s for s in read["checkpoints"] if s > window[-1]]
    spec = VARIANTS[variant]
    info = {
        "variant": variant,
        **spec,
        "signal": signal if spec["fit"] != "step" else "the step (no accuracy)",
        "window": window_label or (f"{100 * fraction:g}" if fraction is not None else None),
        "window_fraction": fraction,
        "window_end_step_asked": end_step,
        "window_steps": window,
        "window_end_step": window[-1],
        "checkpoints_read": read["checkpoints"],
        "checkpoints_read_after_window": after,
        "accuracies_read": read["accuracies"],
        "accuracies_read_after_window": [s for s in read["accuracies"] if s > window[-1]],
        "target": read.get("target"),
        "target_step": read.get("target_step"),
        "rank": VARIANT_RANKS[variant],
        "median_norm_ratio_to_window_end": float(np.median(ratios)) if ratios else math.nan,
    }
    save_tensors(out, tensors, info)
    return info


def _rank1_factors(series: Series, window: list[int], updates: dict, series_file):
    """Factor-file tensors of û v1ᵀ per module, and ‖û‖ over ‖ΔW‖F at the window's end."""
    tensors, ratios = {}, []
    last_row = series.steps.index(window[-1])
    for module, (u_hat, v_last) in updates.items():
        u_hat = u_hat.float()
        norm = torch.linalg.norm(u_hat)
        if not torch.isfinite(norm):
            raise InputError(f"{series_file}: the prediction for {module} is not finite")
        tensors[f"{module}.U"] = (u_hat / norm if norm > 0 else u_hat)[:, None].contiguous()
        tensors[f"{module}.S"] = norm.reshape(1).clone()
        tensors[f"{module}.V"] = v_last[:, None].float().contiguous()
        tensors[f"{module}.fro"] = norm.reshape(()).clone()
        ratios.append(float(norm / max(float(series.fro[module][last_row]), 1e-30)))
    return tensors, ratios


def _relex_factors(series: Series, window, base, checkpoints, target_step, series_file):
    """RELEX's ΔŴ of every module of the series, as full-rank factors, from the weights."""
    from rldynamics.alpharl.relex import as_factors, relex_updates
    from rldynamics.checkpoints.series import find_checkpoints

    if base is None or checkpoints is None:
        raise InputError("variant 'relex' reads the weights: give the base and the checkpoints")
    goal = float(target_step if target_step is not None else max(series.steps))
    updates = relex_updates(base, find_checkpoints(checkpoints), window, list(series.U1), goal)
    tensors, ratios = {}, []
    last_row = series.steps.index(window[-1])
    for module, update in updates.items():
        if not torch.isfinite(update).all():
            raise InputError(f"{series_file}: the RELEX prediction for {module} is not finite")
        for part, value in as_factors(update).items():
            tensors[f"{module}.{part}"] = value
        norm = float(tensors[f"{module}.fro"])
        ratios.append(norm / max(float(series.fro[module][last_row]), 1e-30))
    read = {"checkpoints": list(window), "accuracies": [], "target_step": goal}
    return tensors, ratios, read
