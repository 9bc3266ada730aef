"""Tables derived from the tidy results: model accuracies, rank-k recovery, AlphaRL retention.

Every derived number keeps the sample count behind it, and the ``variant`` column says which
reading of the method produced it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rldynamics.core.columns import RESULT_COLUMNS
from rldynamics.core.errors import InputError


def concat_results(frames: list[pd.DataFrame]) -> pd.DataFrame:
    table = pd.concat([f for f in frames if len(f)], ignore_index=True)
    missing = set(RESULT_COLUMNS) - set(table.columns)
    if missing:
        raise InputError(f"results lack columns {sorted(missing)}")
    graders = sorted(table["grader"].dropna().astype(str).unique())
    if len(graders) > 1:  # accuracies read by different rules are not comparable
        raise InputError(
            f"results were scored by different grader versions {graders}: re-score them all"
        )
    return table[RESULT_COLUMNS].sort_values(
        ["model_kind", "step", "k", "variant", "benchmark", "metric"], na_position="first"
    )


def primary(table: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """Rows of each benchmark's primary metric only (``metrics``: benchmark → metric)."""
    keep = table["benchmark"].map(metrics) == table["metric"]
    return table[keep]


def average_accuracy(table: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """Mean primary metric over benchmarks per model: columns model_kind, step, k, variant, avg."""
    rows = primary(table, metrics)
    keys = ["model_kind", "step", "k", "lam", "variant"]
    return (
        rows.groupby(keys, dropna=False)
        .agg(value=("value", "mean"), n=("n", "sum"), benchmarks=("benchmark", "nunique"))
        .reset_index()
    )


def checkpoint_accuracy(
    table: pd.DataFrame, metrics: dict[str, str], source: str = "the results table"
) -> dict[int, float]:
    """Average accuracy of every evaluated RL checkpoint, by step, over ``metrics``
    (benchmark → metric); a pair the table does not hold is named."""
    ckpt_rows = table[table["model_kind"] == "checkpoint"]
    held = set(zip(ckpt_rows["benchmark"], ckpt_rows["metric"]))
    missing = [f"{b} {m}" for b, m in metrics.items() if (b, m) not in held]
    if missing and len(ckpt_rows):
        raise InputError(f"{source} holds no checkpoint scores of {', '.join(missing)}")
    avg = average_accuracy(table, metrics)
    ckpt = avg[avg["model_kind"] == "checkpoint"]
    if ckpt.empty:
        raise InputError("the results table holds no RL checkpoint")
    return {int(s): float(v) for s, v in zip(ckpt["step"], ckpt["value"])}


def rank_k_rows(frame: pd.DataFrame, lam: float = 1.0) -> pd.DataFrame:
    """Rank-k models at the factor λ (the λ sweep's other values are left out)."""
    ranked = frame[frame["model_kind"] == "rank-k"]
    return ranked[np.isclose(ranked["lam"].astype(float), lam)]


def recovery_table(
    table: pd.DataFrame, metrics: dict[str, str], final_step: int, lam: float = 1.0
) -> pd.DataFrame:
    """recovery(k) = (acc(W(k)) − acc(W0)) / (acc(W_final) − acc(W0)), per benchmark and mean."""
    rows = primary(table, metrics)
    out = []
    for benchmark, group in list(rows.groupby("benchmark")) + [("average", None)]:
        if group is None:
            group = average_accuracy(table, metrics).assign(benchmark="average")
        base = group[group["model_kind"] == "base"]["value"]
        full = group[(group["model_kind"] == "checkpoint") & (group["step"] == final_step)]
        if base.empty or full.empty:
            raise InputError(f"recovery needs the base and the final checkpoint ({benchmark})")
        gain = float(full["value"].iloc[0]) - float(base.iloc[0])
        ranked = rank_k_rows(group, lam)
        ranked = ranked[ranked["step"] == final_step]
        for _, row in ranked.iterrows():
            out.append(
                {
                    "benchmark": benchmark,
                    "k": row["k"],
                    "variant": row["variant"],
                    "accuracy": row["value"],
                    "base_accuracy": float(base.iloc[0]),
                    "rl_accuracy": float(full["value"].iloc[0]),
                    "recovery": (row["value"] - float(base.iloc[0])) / gain
                    if gain
                    else float("nan"),
                    "n": row["n"],
                }
            )
    return pd.DataFrame(out)


def reads_after_window(method: str, variant: str) -> str:
    """What a prediction read from after its window (see rldynamics.alpharl.predict).

    Sign alignment is chained step to step, so it needs no checkpoint after the window (the
    prediction reads only the window's); the paper variant's relative accuracy divides by the
    final checkpoint's accuracy.
    """
    if method == "alpharl" and variant == "paper":
        return "the final accuracy (normaliser of the relative accuracy)"
    return "nothing"


def alpharl_table(
    table: pd.DataFrame,
    metrics: dict[str, str],
    windows: dict[str, tuple[float, int]],
    predictions: list[dict] | None = None,
    base_dtype: str = "auto",
) -> pd.DataFrame:
    """Paper Table 3 form: per method and window, the window-end checkpoint, the prediction,
    the full run, retention and speed-up.

    ``windows``: label → (share of the run, last window step). Predictions are the rows of
    model_kind ``alpharl`` (one per variant) and ``baseline`` at that step; ``predictions``
    holds the metadata of the AlphaRL prediction files, which name the signal each fit read
    and the dtype its model is built in ("auto": ``base_dtype``, the base model's). Retention
    is the prediction's average accuracy over the final checkpoint's; the speed-up of a window
    is final step / window-end step, counted where retention ≥ 96 %.
    """
    meta = {(m["variant"], str(m["window"])): m for m in predictions or []}
    avg = average_accuracy(table, metrics)
    ckpt = avg[avg["model_kind"] == "checkpoint"].set_index("step")["value"]
    base = avg[avg["model_kind"] == "base"]["value"]
    final_step = int(ckpt.index.max())
    final = float(ckpt.loc[final_step])
    scored = avg[avg["model_kind"].isin(["alpharl", "baseline"])]
    out = []
    for label, (fraction, last_step) in sorted(windows.items(), key=lambda w: w[1]):
        rows = scored[scored["step"] == last_step]
        if rows.empty:
            raise InputError(f"no AlphaRL or baseline evaluation at window end step {last_step}")
        for _, pred in rows.iterrows():
            value = float(pred["value"])
            if pred["model_kind"] == "alpharl":
                info = meta.get((pred["variant"], label))
                if info is None:
                    raise InputError(
                        f"no prediction file's metadata for AlphaRL {pred['variant']}, "
                        f"window {label}"
                    )
                signal, dtype = info["signal"], info["dtype"]
            else:
                signal, dtype = "the step (no accuracy)", "auto"
            out.append(
                {
                    "method": pred["model_kind"],
                    "variant": pred["variant"],
                    "window": label,
                    "window_fraction": fraction,
                    "window_last_step": last_step,
                    "signal": signal,
                    "model_dtype": base_dtype if dtype == "auto" else dtype,
                    "base": float(base.iloc[0]) if len(base) else float("nan"),
                    "window_checkpoint": float(ckpt.loc[last_step]),
                    "prediction": value,
                    "full_run": final,
                    "final_step": final_step,
                    "retention": value / final if final else float("nan"),
                    "window_retention": float(ckpt.loc[last_step]) / final
                    if final
                    else float("nan"),
                    "speedup": final_step / last_step,
                    "retained_96": value >= 0.96 * final,
                    "reads_after_window": reads_after_window(pred["model_kind"], pred["variant"]),
                    "n": int(pred["n"]),
                }
            )
    frame = pd.DataFrame(out)
    best = frame[frame["retained_96"]].groupby(["method", "variant"])["speedup"].max()
    frame["best_speedup_at_96"] = [
        best.get((m, v), float("nan")) for m, v in zip(frame["method"], frame["variant"])
    ]
    return frame


def read_results(path) -> pd.DataFrame:
    """A tidy results table (``tables/results.csv``), its k and variant read as text."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"results table not found: {path}")
    return pd.read_csv(path, dtype={"k": str, "variant": str})
