"""How linear are rank-1 trajectories in accuracy, and how much of that is real?

In-sample R² of the PLS + OLS fit (AlphaRL App. E) is optimistic when a module has far more
coordinates than there are checkpoints. Beside it, per module and for every trajectory form
and sign alignment:
- held-out R²: fit on the early steps, score the accuracy of the later ones;
- a control: the same in-sample fit with the accuracies shuffled over steps, many draws.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rldynamics.core.errors import InputError
from rldynamics.dynamics.trajectories import (
    ALIGNMENTS,
    TRAJECTORY_FORMS,
    Series,
    aligned_trajectories,
    fit_linear,
    module_kind,
)


def r2_score(y: np.ndarray, y_hat: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - y_hat) ** 2).sum()) / total if total > 0 else float("nan")


def heldout_r2(X: np.ndarray, y: np.ndarray, n_fit: int) -> float:
    """Fit on the first ``n_fit`` rows, R² of the predicted accuracy on the rest."""
    if n_fit < 2 or n_fit >= len(y) or np.ptp(y[:n_fit]) == 0:
        return float("nan")
    fit = fit_linear(X[:n_fit], y[:n_fit])
    z_late = fit.pls.transform(X[n_fit:])[:, 0]
    return r2_score(y[n_fit:], fit.a * z_late + fit.b)


def control_r2(X: np.ndarray, y: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """In-sample R² with the accuracies permuted over steps, ``draws`` times."""
    return np.array([fit_linear(X, rng.permutation(y)).r2 for _ in range(draws)])


def linearity_table(
    series: Series,
    accuracy: dict[int, float],
    holdout_fraction: float = 0.5,
    control_draws: int = 100,
    seed: int = 0,
    forms: tuple[str, ...] = TRAJECTORY_FORMS,
    alignments: tuple[str, ...] = ALIGNMENTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-module table, every control draw) over all forms and alignments."""
    missing = [s for s in series.steps if s not in accuracy]
    if missing:
        raise InputError(f"no accuracy for checkpoint steps {missing}")
    y = np.array([accuracy[s] for s in series.steps])
    constant = np.ptp(y) == 0
    n_fit = max(2, math.ceil(holdout_fraction * len(y)))
    rows, controls = [], []
    for form in forms:
        for alignment in alignments:
            trajectories = aligned_trajectories(series, form, alignment)
            # One generator per (form, alignment): the same permutations for every module.
            for module, (X, _) in trajectories.items():
                rng = np.random.default_rng(seed)
                X = X.double().numpy()
                layer, proj = module_kind(module)
                if constant:
                    r2, held, ctrl = float("nan"), float("nan"), np.full(control_draws, np.nan)
                else:
                    r2 = fit_linear(X, y, module).r2
                    held = heldout_r2(X, y, n_fit)
                    ctrl = control_r2(X, y, control_draws, rng)
                rows.append(
                    {
                        "form": form,
                        "alignment": alignment,
                        "module": module,
                        "layer": layer,
                        "type": proj,
                        "T": len(y),
                        "r2": r2,
                        "r2_heldout": held,
                        "heldout_fit_steps": n_fit,
                        "control_mean": float(np.mean(ctrl)) if control_draws else float("nan"),
                        "control_p95": float(np.quantile(ctrl, 0.95))
                        if control_draws and not constant
                        else float("nan"),
                        "control_draws": control_draws,
                    }
                )
                controls.extend(
                    {"form": form, "alignment": alignment, "module": module, "draw": i, "r2": v}
                    for i, v in enumerate(ctrl)
                )
    return pd.DataFrame(rows), pd.DataFrame(controls)
