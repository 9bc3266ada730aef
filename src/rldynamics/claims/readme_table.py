"""The README's results table (``rldynamics results-table``): a claims table, or a seeds'
merged one, as Markdown with the machine and the commit that produced it, and the window
table of the AlphaRL models' accuracies."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def commit(repo: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _number(value, unit) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    digits = 3 if unit in ("r2", "ratio", "lambda", "x") else 1
    return f"{value:.{digits}f}"


def results_block(single: pd.DataFrame, merged: pd.DataFrame | None, note: str) -> str:
    """Markdown: one line per claim, the single run's value and interval, the seeds' spread."""
    lines = [
        note,
        "",
        "| claim | variant | paper | ours (95 % interval over items) | "
        "seeds: min – max | verdict (basis) |",
        "|---|---|---|---|---|---|",
    ]
    spread = {}
    if merged is not None:
        for _, row in merged.iterrows():
            variant = row["variant"] if isinstance(row["variant"], str) else ""
            spread[(row["claim_id"], variant)] = row
    for _, row in single.iterrows():
        unit = row["unit"]
        variant = row["variant"] if isinstance(row["variant"], str) else ""
        paper = (
            "–"
            if pd.isna(row["paper_value"])
            else (
                f"{row['comparison']} {_number(row['paper_value'], unit)}"
                + (f" ± {row['margin']:g}" if row["comparison"] == "≈" else "")
            )
        )
        ours = (
            f"{_number(row['value'], unit)} [{_number(row['ci_low'], unit)}, "
            f"{_number(row['ci_high'], unit)}]"
        )
        seeds = spread.get((row["claim_id"], variant))
        seed_text = "–"
        basis = f" ({row['basis']})" if isinstance(row["basis"], str) else ""
        verdict_text = f"{row['verdict']}{basis}"
        if seeds is not None and np.isfinite(seeds["seed_min"]):
            seed_text = f"{_number(seeds['seed_min'], unit)} – {_number(seeds['seed_max'], unit)}"
            verdict_text += f"; over seeds: {seeds['verdict']}" + (
                f" ({seeds['basis']})" if isinstance(seeds["basis"], str) else ""
            )
        lines.append(
            f"| {row['claim']} ({unit}) | {variant or '–'} | {paper} | {ours} | "
            f"{seed_text} | {verdict_text} |"
        )
    return "\n".join(lines) + "\n"


def window_block(intervals: pd.DataFrame, alpharl: pd.DataFrame) -> str:
    """Markdown: average accuracy (%) with its interval, per window, of the window-end
    checkpoint, each AlphaRL variant and the baseline (the paper's Table 3 form)."""
    acc = intervals[(intervals["quantity"] == "accuracy") & (intervals["benchmark"] == "average")]
    acc = acc.set_index("model")
    windows = alpharl.drop_duplicates("window").sort_values("window_last_step")

    def cell(model: str) -> str:
        if model not in acc.index:
            return "–"
        row = acc.loc[model]
        return f"{100 * row['value']:.1f} [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"

    head = " | ".join(
        f"{w['window']} ({int(w['window_last_step'])})" for _, w in windows.iterrows()
    )
    lines = [f"| window (last step) | {head} |", "|---" * (len(windows) + 1) + "|"]
    steps = [int(s) for s in windows["window_last_step"]]
    lines.append(
        "| checkpoint at the window's end | "
        + " | ".join(cell(f"checkpoint/step-{s}") for s in steps)
        + " |"
    )
    for (method, variant), _ in alpharl.groupby(["method", "variant"], sort=False):
        if method == "alpharl":
            models = [f"alpharl/step-{s}/k1/lam1/{variant}" for s in steps]
            name = f"AlphaRL `{variant}`"
        else:
            models = [f"{method}/step-{s}/{variant}" for s in steps]
            name = f"{variant} {method}"
        lines.append(f"| {name} | " + " | ".join(cell(m) for m in models) + " |")
    return "\n".join(lines) + "\n"


def replace_block(document: str, block: str, source, name: str = "") -> str:
    """Fill the claims block ``<!-- claims:begin -->`` (or ``<!-- claims:NAME:begin -->``, one
    per run the README shows)."""
    from rldynamics.core.io import replace_between

    tag = f"claims:{name}:" if name else "claims:"
    return replace_between(document, block, source, f"<!-- {tag}begin -->", f"<!-- {tag}end -->")
