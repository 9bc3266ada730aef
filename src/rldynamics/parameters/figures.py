"""The Path Not Taken's three figures: update sparsity by projection type, the rotation of
principal subspaces by layer, and spectral drift over training (from tables/parameters.csv)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from rldynamics.core.errors import InputError  # noqa: E402
from rldynamics.core.io import save_figure as _save  # noqa: E402


def _metric(table: pd.DataFrame, name: str) -> pd.DataFrame:
    rows = table[table["metric"] == name]
    if rows.empty:
        raise InputError(f"the parameter-metric table holds no {name!r} rows")
    return rows


def sparsity_by_type(table: pd.DataFrame, stem, run: str) -> None:
    """bf16 update sparsity of the final checkpoint per projection type, one dot per layer."""
    rows = _metric(table, "update_sparsity")
    step = int(rows["step"].max())
    rows = rows[rows["step"] == step]
    types = sorted(rows["type"].unique())
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, kind in enumerate(types):
        values = 100 * rows[rows["type"] == kind]["value"]
        ax.bar(i, values.mean(), color="C0", alpha=0.35)
        ax.plot([i] * len(values), values, "o", color="C0", ms=4)
    ax.set_xticks(range(len(types)), types, rotation=30)
    ax.set_ylim(0, 100)
    ax.set_ylabel("entries unchanged (%)")
    ax.set_title(f"{run}: update sparsity at step {step} (bar: mean; dots: layers)")
    _save(fig, stem)


def principal_angles_by_layer(table: pd.DataFrame, stem, run: str) -> None:
    """Largest principal angle (left or right, worst matrix) per layer, one line per k."""
    left = _metric(table, "principal_angle_left_max_deg")
    right = _metric(table, "principal_angle_right_max_deg")
    rows = pd.concat([left, right])
    step = int(rows["step"].max())
    rows = rows[rows["step"] == step]
    per_layer = rows.groupby(["k", "layer"])["value"].max().reset_index()
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, group in per_layer.groupby("k"):
        ax.plot(group["layer"], group["value"], "o-", label=f"top-{k} subspace")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("decoder layer")
    ax.set_ylabel("largest principal angle (degrees)")
    ax.set_title(f"{run}: rotation of principal subspaces, W0 → step {step}")
    ax.set_ylim(bottom=0)
    ax.legend()
    _save(fig, stem)


def spectral_drift(table: pd.DataFrame, stem, run: str) -> None:
    """NSS = ‖σ(Wt) − σ(W0)‖/‖σ(W0)‖ over training: median over layers per type, with range."""
    rows = _metric(table, "spectral_shift_nss")
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, group in rows.groupby("type"):
        stats = group.groupby("step")["value"].agg(["median", "min", "max"]).reset_index()
        (line,) = ax.plot(stats["step"], stats["median"], "o-", ms=3, label=kind)
        ax.fill_between(
            stats["step"], stats["min"], stats["max"], color=line.get_color(), alpha=0.15
        )
    ax.set_xlabel("RL step")
    ax.set_ylabel("normalized spectral shift (NSS)")
    ax.set_title(f"{run}: spectral drift over training (median, range over layers)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    _save(fig, stem)
