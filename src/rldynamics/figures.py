"""The figures: each reads only the tidy tables and writes a PNG and a PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from rldynamics.errors import InputError  # noqa: E402
from rldynamics.io import atomic_path  # noqa: E402
from rldynamics.summary import average_accuracy  # noqa: E402


def _save(fig, stem: str | Path) -> None:
    for fmt in ("png", "pdf"):
        with atomic_path(f"{stem}.{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
    plt.close(fig)


def accuracy_vs_step(table: pd.DataFrame, metrics: dict[str, str], stem, run: str) -> None:
    """RL checkpoints' average accuracy against step, with each checkpoint's rank-1 model."""
    avg = average_accuracy(table, metrics)
    fig, ax = plt.subplots(figsize=(6, 4))
    ckpt = avg[avg["model_kind"] == "checkpoint"].sort_values("step")
    rank1 = avg[(avg["model_kind"] == "rank-k") & (avg["k"].astype(str) == "1")]
    rank1 = rank1.sort_values("step")
    base = avg[avg["model_kind"] == "base"]["value"]
    if len(base):
        ax.axhline(float(base.iloc[0]), color="grey", ls=":", label="base model")
    ax.plot(ckpt["step"], ckpt["value"], "o-", label="RL checkpoint")
    ax.plot(rank1["step"], rank1["value"], "s--", label="rank-1 of that checkpoint")
    ax.set_xlabel("RL step")
    ax.set_ylabel("accuracy (mean over benchmarks)")
    ax.set_title(f"{run}: accuracy over RL training")
    ax.set_ylim(0, 1)
    ax.legend()
    _save(fig, stem)


def recovery_vs_k(recovery: pd.DataFrame, stem, run: str) -> None:
    """Share of the RL gain recovered by the rank-k model, per benchmark and averaged."""
    fig, ax = plt.subplots(figsize=(6, 4))
    order = sorted(
        recovery["k"].astype(str).unique(),
        key=lambda k: (k == "full", int(k) if k.isdigit() else 0),
    )
    for benchmark, group in recovery.groupby("benchmark"):
        values = group.set_index(group["k"].astype(str))["recovery"].reindex(order)
        ax.plot(
            order, values.values, "o-", label=benchmark, lw=2.5 if benchmark == "average" else 1
        )
    ax.axhline(1.0, color="grey", ls=":")
    ax.set_xlabel("rank k of the update")
    ax.set_ylabel("recovered share of the RL gain")
    ax.set_title(f"{run}: rank-k recovery")
    ax.legend()
    _save(fig, stem)


def r2_histogram(r2: pd.DataFrame, stem, run: str) -> None:
    """Distribution of the in-sample PLS R² of rank-1 trajectories over modules."""
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = list(r2.groupby("type"))
    ax.hist(
        [g["r2"] for _, g in groups],
        bins=20,
        range=(0, 1),
        stacked=True,
        label=[name for name, _ in groups],
    )
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axvline(r2["r2"].mean(), color="k", ls="--", label=f"mean {r2['r2'].mean():.3f}")
    ax.set_xlabel("PLS R² of the rank-1 trajectory against accuracy")
    ax.set_ylabel("modules")
    ax.set_title(f"{run}: linearity of rank-1 dynamics ({int(r2['T'].iloc[0])} checkpoints)")
    ax.legend(fontsize=7)
    _save(fig, stem)


def alpharl_windows(alpharl: pd.DataFrame, stem, run: str) -> None:
    """AlphaRL accuracy against window fraction, beside the window-end and final checkpoints."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, group in alpharl.groupby("variant"):
        group = group.sort_values("window_fraction")
        pct = 100 * group["window_fraction"]
        ax.plot(pct, group["alpharl"], "o-", label=f"AlphaRL ({variant})")
        ax.plot(pct, group["window_checkpoint"], "s--", label="checkpoint at window end")
    ax.axhline(alpharl["full_run"].iloc[0], color="k", ls=":", label="final checkpoint")
    ax.axhline(
        0.96 * alpharl["full_run"].iloc[0], color="grey", ls=":", lw=0.8, label="96 % of final"
    )
    ax.axhline(alpharl["base"].iloc[0], color="grey", ls="-.", label="base model")
    ax.set_xticks(sorted(100 * alpharl["window_fraction"].unique()))
    ax.set_xlabel("window (% of RL steps)")
    ax.set_ylabel("accuracy (mean over benchmarks)")
    ax.set_title(f"{run}: AlphaRL extrapolation from an early window")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    _save(fig, stem)


# --- Path Not Taken parameter metrics ------------------------------------------------------


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
