"""The claims as a forest plot: one line per claim, our value with its interval beside the
paper's number (a diamond) and the band in which the claim holds (shaded)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rldynamics.core.io import atomic_path  # noqa: E402

VERDICT_COLOURS = {
    "reproduced": "#1b7837",
    "not reproduced": "#b2182b",
    "inconclusive": "#e08214",
    "not applicable": "#777777",
}


def _band(row) -> tuple[float, float] | None:
    """Where the claim holds, on the claim's own axis."""
    if pd.isna(row["paper_value"]):
        return None
    value, margin = float(row["paper_value"]), float(row["margin"])
    if row["comparison"] == ">=":
        return value - margin, np.inf
    if row["comparison"] == "<=":
        return -np.inf, value + margin
    return value - margin, value + margin


def _label(row) -> str:
    text = str(row["claim"])
    if len(text) > 58:
        text = text[:55] + "…"
    if isinstance(row["variant"], str) and row["variant"]:
        text += f" [{row['variant']}]"
    return text


def forest_plot(claims: pd.DataFrame, stem: str | Path, run: str) -> None:
    """One panel a claim (units differ), stacked; writes ``stem``.png and .pdf atomically."""
    rows = claims[np.isfinite(claims["value"].astype(float))].reset_index(drop=True)
    height = max(2.0, 0.42 * len(rows) + 0.8)
    fig, axes = plt.subplots(len(rows) or 1, 1, figsize=(9, height), squeeze=False)
    for ax, (_, row) in zip(axes[:, 0], rows.iterrows()):
        colour = VERDICT_COLOURS.get(row["verdict"], "black")
        value = float(row["value"])
        low, high = float(row["ci_low"]), float(row["ci_high"])
        points = [value]
        if np.isfinite(low) and np.isfinite(high):
            ax.plot([low, high], [0, 0], color=colour, lw=2)
            points += [low, high]
        ax.plot([value], [0], "o", color=colour, ms=5)
        band = _band(row)
        if band is not None:
            paper = float(row["paper_value"])
            points.append(paper)
            ax.plot([paper], [0], "D", color="black", ms=5, mfc="none")
        span = max(points) - min(points) or max(abs(value), 1.0) * 0.1
        left, right = min(points) - 0.25 * span, max(points) + 0.25 * span
        if band is not None:
            # a number for another run's setting: its band is shown grey, as no test
            shade = "#d9f0d3" if row["verdict"] != "not applicable" else "#eeeeee"
            ax.axvspan(max(band[0], left), min(band[1], right), color=shade, zorder=0)
        ax.set_xlim(left, right)
        ax.set_yticks([])
        ax.set_ylabel(_label(row), rotation=0, ha="right", va="center", fontsize=7)
        ax.tick_params(axis="x", labelsize=6, pad=1)
        ax.text(
            1.01,
            0.5,
            f"{row['verdict']} ({row['unit']})",
            transform=ax.transAxes,
            fontsize=6,
            va="center",
            color=colour,
        )
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    axes[0, 0].set_title(
        f"{run}: claims — ours (dot, 95 % interval) vs the paper (diamond); green band: the "
        "claim holds (grey: a number for another setting)",
        fontsize=8,
    )
    fig.tight_layout(h_pad=0.3)
    for fmt in ("png", "pdf"):
        with atomic_path(f"{stem}.{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
    plt.close(fig)
