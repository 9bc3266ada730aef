"""Where an RL run in progress will end: a forecast of its accuracy at a target step, with a
95 % prediction interval, the extrapolated model beside it, and a backtest of both.

The forecast (fixed, not tuned to any run): the average accuracy of the checkpoints so far
(mean over benchmarks of each one's primary metric; the base is not a checkpoint) is fitted by
ordinary least squares as a line in log(step), a(t) = α + β·log t, which saturates as RL
accuracy curves do, and evaluated at the target step T. Its 95 % prediction interval is the
textbook one for a new observation at log T,

    â(T) ± t(0.975, n − 2) · s · sqrt(1 + 1/n + (log T − mean log t)² / Σ (log t − mean log t)²),

with s the residual standard deviation over the n checkpoints, so at least three checkpoints
are needed. The checkpoints are scored on the same items, so the interval is about where this
run's curve goes on these items, not about other items.

The verdict compares the extrapolated model (the ``prospective`` AlphaRL prediction at T, or
any variant given) with the forecast: within ``tolerance`` of it, stopping now saves T − t_last
steps; a prediction interval wider than ± ``tolerance`` is too uncertain, and the step to train
to is the first one, continuing the checkpoints' spacing, at which the interval would be that
narrow (the residual spread assumed unchanged).

The backtest pretends a finished run stopped at each window's end and forecasts its last
step: forecast against realized accuracy, and the share of windows whose realized accuracy
falls inside the interval (its empirical coverage, which should be near 95 %).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from rldynamics.core.errors import InputError

LEVEL = 0.95


@dataclass(frozen=True)
class Forecast:
    """The fitted curve's accuracy at ``target_step`` and its 95 % prediction interval."""

    steps: tuple[int, ...]
    accuracies: tuple[float, ...]
    target_step: int
    value: float
    low: float
    high: float
    residual_sd: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _t_quantile(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + LEVEL / 2, dof))


def _half_width(x: np.ndarray, x0: float, sd: float) -> float:
    n = len(x)
    spread = ((x - x.mean()) ** 2).sum()
    return _t_quantile(n - 2) * sd * math.sqrt(1 + 1 / n + (x0 - x.mean()) ** 2 / spread)


def forecast(steps, accuracies, target_step: int) -> Forecast:
    """The line in log(step) through the checkpoints' accuracies, evaluated at ``target_step``."""
    pairs = sorted(zip((int(s) for s in steps), (float(a) for a in accuracies)))
    steps = [s for s, _ in pairs]
    if len(steps) < 3:
        raise InputError(
            f"a forecast needs at least three checkpoints (a line and its spread); got steps "
            f"{steps}"
        )
    if len(set(steps)) != len(steps) or steps[0] <= 0:
        raise InputError(f"checkpoint steps must be distinct and positive, got {steps}")
    if target_step < steps[-1]:
        raise InputError(
            f"target step {target_step} is before the last checkpoint read ({steps[-1]})"
        )
    x, y = np.log(np.asarray(steps, dtype=float)), np.asarray([a for _, a in pairs])
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    sd = float(math.sqrt((residuals**2).sum() / (len(x) - 2)))
    x0 = math.log(target_step)
    value = float(intercept + slope * x0)
    width = _half_width(x, x0, sd)
    return Forecast(
        tuple(steps), tuple(y), int(target_step), value, value - width, value + width, sd
    )


def step_for_width(fc: Forecast, tolerance: float) -> int | None:
    """The first step, continuing the checkpoints' spacing up to T, at which the interval at T
    would be ± ``tolerance`` (the residual spread unchanged); None if not before T."""
    steps = list(fc.steps)
    spacing = max(1, int(np.median(np.diff(steps))))
    x0 = math.log(fc.target_step)
    while steps[-1] + spacing <= fc.target_step:
        steps.append(steps[-1] + spacing)
        if _half_width(np.log(np.asarray(steps, dtype=float)), x0, fc.residual_sd) <= tolerance:
            return steps[-1]
    return None


def verdict(fc: Forecast, model_accuracy: float | None, tolerance: float) -> str:
    """The plain answer: stop now, keep training (to which step), or what falls short."""
    points = 100 * tolerance
    last, target = fc.steps[-1], fc.target_step
    if target == last:
        return (
            f"the run is at its target step {target}: nothing is left to save (the line puts "
            f"it at {100 * fc.value:.1f} %, measured {100 * fc.accuracies[-1]:.1f} %)"
        )
    if fc.half_width > tolerance:
        until = step_for_width(fc, tolerance)
        where = f"at least step {until}" if until else f"step {target} (it stays wider before)"
        return (
            f"the forecast is too uncertain (± {100 * fc.half_width:.1f} points, wider than "
            f"± {points:g}): keep training to {where}"
        )
    if model_accuracy is None or not np.isfinite(model_accuracy):
        return f"forecast {100 * fc.value:.1f} % at step {target}; no extrapolated model scored"
    gap = 100 * (fc.value - model_accuracy)
    if abs(gap) <= points:
        return (
            f"the extrapolated model is within {abs(gap):.1f} points of the forecast at step "
            f"{target}: stopping now saves {target - last} steps"
        )
    if gap < 0:
        return (
            f"the extrapolated model is {-gap:.1f} points above the forecast at step {target}: "
            f"stopping now saves {target - last} steps"
        )
    return (
        f"the extrapolated model falls {gap:.1f} points short of the forecast at step {target}: "
        "keep training"
    )


def forecast_row(fc: Forecast, **labels) -> dict:
    row = {**labels, **asdict(fc)}
    row["steps"] = " ".join(str(s) for s in fc.steps)
    row["accuracies"] = " ".join(f"{a:.4f}" for a in fc.accuracies)
    row["n_checkpoints"] = len(fc.steps)
    return row


def checkpoint_curve(average: pd.DataFrame) -> dict[int, float]:
    """{step: average accuracy} of the checkpoints (``summary.average_accuracy``'s rows)."""
    rows = average[average["model_kind"] == "checkpoint"]
    if rows.empty:
        raise InputError("the results table holds no checkpoint scores")
    return {int(s): float(a) for s, a in zip(rows["step"], rows["value"])}


def backtest(
    run: str, curve: dict[int, float], windows: dict[str, int], alpharl: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per window (label → its last step): the forecast of the run's last step from
    the checkpoints up to the window's end, and the accuracy the run reached there."""
    final = max(curve)
    rows = []
    for label, end in windows.items():
        seen = [s for s in sorted(curve) if s <= end]
        if len(seen) < 3:
            continue  # no interval from two checkpoints: left out, and counted in the report
        fc = forecast(seen, [curve[s] for s in seen], final)
        row = forecast_row(fc, run=run, window=label, window_last_step=end)
        row["realized"] = curve[final]
        row["covered"] = bool(fc.low <= curve[final] <= fc.high)
        row["error"] = fc.value - curve[final]
        if alpharl is not None:  # the extrapolated models of the same window, for comparison
            same = alpharl[alpharl["window"].astype(str) == str(label)]
            for _, model in same.iterrows():
                row[f"model_{model['method']}_{model['variant']}"] = float(model["prediction"])
        rows.append(row)
    return pd.DataFrame(rows)


def coverage(table: pd.DataFrame) -> tuple[int, int]:
    """(windows whose realized accuracy lies in the interval, windows forecast)."""
    return int(table["covered"].sum()), len(table)
