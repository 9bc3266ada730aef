"""Rank-1 trajectories over RL checkpoints and their linearity (AlphaRL §4, App. E).

Per decomposed module, the checkpoint at step t gives one vector (forms named for what they
are, see :mod:`rldynamics.core.variants`):
- ``fro-u1``: x_t = ‖ΔW_t‖F · u1(t) (the paper)
- ``sigma1-u1``: x_t = σ1(t) · u1(t) (the released code's AlphaRL prediction)
- ``u1``: x_t = u1(t) (the released code's linearity script and t-SNE)
Signs are aligned along the series (``backward`` from the last checkpoint, as the released
code does, or ``forward`` from the first); v1 flips with u1. Both rules are chained step to
step, so on the same checkpoints they give the same relative signs: the series may differ by
one global sign, which every fit here absorbs.

Linearity: standardize X (T × d), one-component PLS, then OLS of the accuracy y on the first
PLS score z1; R² of that fit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.cross_decomposition import PLSRegression

from rldynamics.core.errors import InputError
from rldynamics.core.io import load_factors, save_tensors
from rldynamics.core.selection import module_kind  # noqa: F401  (re-exported)
from rldynamics.core.variants import TRAJECTORY_FORMS, check_form  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

ALIGNMENTS = ("backward", "forward")


def align_signs(U: torch.Tensor, direction: str = "backward") -> torch.Tensor:
    """Signs (±1, one per row of U [T, m]) that make consecutive rows agree (cos ≥ 0)."""
    if direction not in ALIGNMENTS:
        raise InputError(f"sign alignment must be one of {ALIGNMENTS}, got {direction!r}")
    T = U.shape[0]
    signs = torch.ones(T, dtype=U.dtype)
    order = range(T - 2, -1, -1) if direction == "backward" else range(1, T)
    for t in order:
        ref = t + 1 if direction == "backward" else t - 1
        if torch.dot(U[t], U[ref] * signs[ref]) < 0:
            signs[t] = -1
    return signs


def trajectory(U1: torch.Tensor, S1: torch.Tensor, fro: torch.Tensor, form: str) -> torch.Tensor:
    """Rows x_t of one module's trajectory, before sign alignment."""
    form = check_form(form)
    if form == "fro-u1":
        return U1 * fro[:, None]
    if form == "sigma1-u1":
        return U1 * S1[:, None]
    return U1.clone()


@dataclass
class Series:
    """Top singular triplet of every module at every step, stacked over steps."""

    steps: list[int]
    U1: dict[str, torch.Tensor]  # [T, m]
    V1: dict[str, torch.Tensor]  # [T, n]
    S1: dict[str, torch.Tensor]  # [T]
    fro: dict[str, torch.Tensor]  # [T]


def load_series(factor_files: list[str | Path], steps: list[int]) -> Series:
    """Stack the top triplet of each module from one factor file per step (any order in)."""
    if len(factor_files) != len(steps):
        raise InputError(f"{len(factor_files)} factor files for {len(steps)} steps")
    if len(set(steps)) != len(steps):
        raise InputError(f"duplicate steps in the series: {sorted(steps)}")
    order = sorted(range(len(steps)), key=lambda i: steps[i])
    per_step = [load_factors(factor_files[i])[0] for i in order]
    modules = list(per_step[0])
    for i, factors in zip(order, per_step):
        if set(factors) != set(modules):
            raise InputError(f"{factor_files[i]}: its modules differ from {factor_files[order[0]]}")
    return Series(
        steps=[steps[i] for i in order],
        U1={m: torch.stack([f[m]["U"][:, 0] for f in per_step]) for m in modules},
        V1={m: torch.stack([f[m]["V"][:, 0] for f in per_step]) for m in modules},
        S1={m: torch.stack([f[m]["S"][0] for f in per_step]) for m in modules},
        fro={m: torch.stack([f[m]["fro"].reshape(()) for f in per_step]) for m in modules},
    )


def aligned_trajectories(series: Series, form: str, alignment: str):
    """{module: (X [T, m], V [T, n])} with signs aligned along the steps."""
    out = {}
    for module, U1 in series.U1.items():
        signs = align_signs(U1, alignment)
        X = trajectory(U1, series.S1[module], series.fro[module], form) * signs[:, None]
        out[module] = (X, series.V1[module] * signs[:, None])
    return out


@dataclass
class LinearFit:
    """One-component PLS of X on y, then OLS y = a·z1 + b."""

    pls: PLSRegression
    a: float
    b: float
    r2: float

    def predict_x(self, y_target: float) -> np.ndarray:
        """Invert the fit: z* = (y* − b)/a, x̂ = PLS⁻¹(z*) = x̄ + z*·(loading ⊙ σx)."""
        if self.a == 0 or not np.isfinite(self.a):
            raise InputError("the linear fit has zero slope: no trajectory point reaches y*")
        z_star = (y_target - self.b) / self.a
        return self.pls.inverse_transform(np.array([[z_star]]))[0]


def fit_linear(X: np.ndarray, y: np.ndarray, name: str = "module") -> LinearFit:
    """Fit a module's trajectory rows X [T, d] against accuracies y [T] (T ≥ 2, y not constant)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.shape[0] != y.shape[0]:
        raise InputError(f"{name}: {X.shape[0]} trajectory points but {y.shape[0]} accuracies")
    if X.shape[0] < 2:
        raise InputError(f"{name}: a linear fit needs at least two checkpoints, got {X.shape[0]}")
    if np.ptp(y) == 0:
        raise InputError(f"{name}: the accuracies are constant over the checkpoints ({y[0]})")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise InputError(f"{name}: the trajectory or the accuracies hold NaN or infinity")
    # Checked above, once: scikit-learn's own input and parameter checks took most of the
    # time of the thousands of small fits of a run (the control draws); the arithmetic is
    # the same with them off.
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        pls = PLSRegression(n_components=1, scale=True).fit(X, y)
        z = pls.transform(X)[:, 0]
    a, b = np.polyfit(z, y, 1) if np.ptp(z) > 0 else (0.0, float(y.mean()))
    residual = y - (a * z + b)
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return LinearFit(pls=pls, a=float(a), b=float(b), r2=r2)


def save_series(path, series: Series) -> None:
    """The run's rank-1 series, stored once: every form and alignment derives from it."""
    tensors = {"steps": torch.tensor(series.steps, dtype=torch.int64)}
    for module in series.U1:
        tensors[f"{module}.u"] = series.U1[module]
        tensors[f"{module}.v"] = series.V1[module]
        tensors[f"{module}.s"] = series.S1[module].clone()
        tensors[f"{module}.fro"] = series.fro[module].clone()
    save_tensors(path, tensors, {"steps": series.steps, "content": "top singular triplet per step"})


def load_series_file(path) -> Series:
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise InputError(f"rank-1 series file not found: {path}")
    parts: dict[str, dict] = {}
    with safe_open(str(path), framework="pt") as handle:
        steps = handle.get_tensor("steps").tolist()
        for key in handle.keys():
            if key != "steps":
                module, _, part = key.rpartition(".")
                parts.setdefault(module, {})[part] = handle.get_tensor(key)
    return Series(
        steps=steps,
        U1={m: p["u"] for m, p in parts.items()},
        V1={m: p["v"] for m, p in parts.items()},
        S1={m: p["s"] for m, p in parts.items()},
        fro={m: p["fro"] for m, p in parts.items()},
    )


def window_series(series: Series, steps: list[int]) -> Series:
    """The series restricted to ``steps`` (what a variant may read)."""
    rows = [series.steps.index(s) for s in steps]
    return Series(
        steps=list(steps),
        U1={m: x[rows] for m, x in series.U1.items()},
        V1={m: x[rows] for m, x in series.V1.items()},
        S1={m: x[rows] for m, x in series.S1.items()},
        fro={m: x[rows] for m, x in series.fro.items()},
    )
