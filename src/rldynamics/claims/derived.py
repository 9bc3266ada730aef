"""The papers' headline claims, checked against this run with intervals.

Inputs: the per-item verdicts of every scored model (``tables/items.csv.gz``), the AlphaRL
table (its windows and steps), the linearity tables, the parameter metrics, and the papers'
numbers (``workflow/data/paper_claims.csv``: one claim a row, with the comparison it makes, a
margin and a citation; values only, the wording is ours).

Every number computed from benchmark items carries a paired bootstrap interval over items
(:mod:`rldynamics.core.stats`); numbers over matrices (R², sparsity, angles) an interval over
matrices. The verdict of a claim with a paper value is read off the whole interval:

- ``>=`` (the claim holds at or above ``paper_value − margin``), ``<=`` (at or below
  ``paper_value + margin``), ``≈`` (within ``paper_value ± margin``);
- ``reproduced``: the whole interval satisfies it; ``not reproduced``: none of it does;
  ``inconclusive``: the interval straddles the line, or the number is undefined;
- ``not applicable``: the paper gives no number for this run's setting (the ``runs`` column
  names the runs a number is for, ``*`` for every run), or the run lacks what the claim is
  about (for instance a single-checkpoint run has no trajectory). Our value is still shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rldynamics.core import stats
from rldynamics.core.columns import ITEM_COLUMNS
from rldynamics.core.errors import InputError
from rldynamics.core.grading import GRADER_VERSION, pass_at_k

log = logging.getLogger(__name__)

CLAIM_COLUMNS = [
    "run",
    "claim",
    "paper",
    "place",
    "paper_value",
    "unit",
    "comparison",
    "margin",
    "value",
    "ci_low",
    "ci_high",
    "n_items",
    "n_samples",
    "variant",
    "checkpoints",
    "verdict",
    "basis",
    "claim_id",
    "note",
]
INTERVAL_COLUMNS = [
    "run",
    "quantity",
    "model",
    "benchmark",
    "variant",
    "value",
    "ci_low",
    "ci_high",
    "n_items",
    "n_samples",
    "note",
]
PAPER_CLAIM_COLUMNS = [
    "claim_id",
    "claim",
    "paper",
    "place",
    "runs",
    "quantity",
    "paper_value",
    "unit",
    "comparison",
    "margin",
    "citation",
]
COMPARISONS = (">=", "<=", "≈")
RETENTION_THRESHOLD = 0.96
# Units in which a share is shown as a percentage.
PERCENT_UNITS = {"pct", "pct_of_gain", "accuracy_pct"}


def gather_items(paths) -> pd.DataFrame:
    """The per-item verdicts of every scoring job, checked for one grader version."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path, dtype={"k": str, "variant": str, "doc_hash": str})
        missing = set(ITEM_COLUMNS) - set(frame.columns)
        if missing:
            raise InputError(f"{path}: item verdicts lack columns {sorted(missing)}")
        frames.append(frame[ITEM_COLUMNS])
    table = pd.concat(frames, ignore_index=True)
    graders = sorted(table["grader"].dropna().astype(str).unique())
    if len(graders) > 1:
        raise InputError(
            f"item verdicts were graded by different grader versions {graders} "
            f"(this grader is {GRADER_VERSION}): run `rldynamics rescore` on the old ones"
        )
    return table


def read_paper_claims(path) -> pd.DataFrame:
    """The papers' numbers, checked: every row a known comparison, a margin and a citation."""
    table = pd.read_csv(path, dtype={"runs": str, "comparison": str})
    missing = set(PAPER_CLAIM_COLUMNS) - set(table.columns)
    if missing:
        raise InputError(f"{path}: lacks columns {sorted(missing)}")
    for i, row in table.iterrows():
        where = f"{path}, row {i + 2} ({row['claim_id']})"
        if not isinstance(row["citation"], str) or not row["citation"].strip():
            raise InputError(f"{where}: no citation")
        if pd.notna(row["paper_value"]):
            if row["comparison"] not in COMPARISONS:
                raise InputError(f"{where}: comparison must be one of {COMPARISONS}")
            if pd.isna(row["margin"]) or row["margin"] < 0:
                raise InputError(f"{where}: a paper value needs a margin ≥ 0")
    if table["claim_id"].duplicated().any():
        raise InputError(
            f"{path}: claim_id repeated: "
            f"{table['claim_id'][table['claim_id'].duplicated()].tolist()}"
        )
    return table


def verdict(comparison: str, paper_value, margin, low, high) -> str:
    """The verdict of an interval [low, high] against a claim (see the module's docstring).

    Lines are compared with a tolerance of 1e-9 (relative), so that 0.7 + 0.1 is 0.8: a
    bound that sits on the line counts as on it (inside the claim)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"

    def at_least(x, line):  # x ≥ line, up to rounding
        return x >= line - 1e-9 * max(1.0, abs(line))

    if comparison == ">=":
        line = paper_value - margin
        if at_least(low, line):
            return "reproduced"
        return "inconclusive" if at_least(high, line) else "not reproduced"
    if comparison == "<=":
        line = paper_value + margin
        if at_least(line, high):
            return "reproduced"
        return "inconclusive" if at_least(line, low) else "not reproduced"
    if comparison == "≈":
        lo, hi = paper_value - margin, paper_value + margin
        if at_least(low, lo) and at_least(hi, high):
            return "reproduced"
        overlaps = at_least(high, lo) and at_least(hi, low)
        return "inconclusive" if overlaps else "not reproduced"
    raise InputError(f"unknown comparison {comparison!r}")


# --- models and their item scores -------------------------------------------------------------


def model_id(row) -> str:
    """One model of a run, from its labels: kind, step, k, λ, variant."""
    parts = [str(row["model_kind"]), f"step-{int(row['step'])}"]
    if isinstance(row["k"], str) or pd.notna(row["k"]):
        parts.append(f"k{row['k']}")
    if pd.notna(row["lam"]):
        parts.append(f"lam{float(row['lam']):g}")
    if isinstance(row["variant"], str) or pd.notna(row["variant"]):
        parts.append(str(row["variant"]))
    return "/".join(parts)


def item_scores(items: pd.DataFrame, metrics: dict[str, str]) -> pd.DataFrame:
    """Items with a ``model`` key and, for a pass@k primary metric, the item's pass@k as its
    share of correct (so ``stats`` reads every benchmark's own metric)."""
    frame = items[items["benchmark"].isin(metrics)].copy()
    if frame.empty:
        raise InputError(f"no item verdicts of the benchmarks {sorted(metrics)}")
    frame["model"] = [model_id(r) for r in frame.to_dict("records")]
    if any(metric != "acc" for metric in metrics.values()):
        # counts read from CSV are integers, a pass@k share is not (pandas 3 refuses to mix)
        frame["n_correct"] = frame["n_correct"].astype(float)
    for bench, metric in metrics.items():
        if metric == "acc":
            continue
        if not metric.startswith("pass@"):
            raise InputError(f"{bench}: metric {metric!r} cannot be read from item verdicts")
        k = int(metric[5:])
        rows = frame["benchmark"] == bench
        values = [
            pass_at_k(int(n), int(c), k)
            for n, c in zip(frame.loc[rows, "n_samples"], frame.loc[rows, "n_correct"])
        ]
        # pass@k stored as a share of one sample, so the statistics read it unchanged
        frame.loc[rows, "n_correct"] = values
        frame.loc[rows, "n_samples"] = 1
    return frame


class Evidence:
    """Bootstrap replicates of the models of a run, one paired draw per comparison."""

    def __init__(self, items: pd.DataFrame, metrics: dict[str, str], n_boot: int, seed: int):
        self.items = item_scores(items, metrics)
        self.metrics = metrics
        self.n_boot, self.seed = n_boot, seed
        labels = self.items.drop_duplicates("model")
        self.labels = {m: r for m, r in zip(labels["model"], labels.to_dict("records"))}
        self.samples = (
            items.assign(model=[model_id(r) for r in items.to_dict("records")])
            .groupby(["model", "benchmark"])["n_samples"]
            .sum()
        )

    def models(self, **labels) -> list[str]:
        """The models whose labels equal ``labels`` (step compared as an integer)."""
        out = []
        for model, row in self.labels.items():
            ok = True
            for key, want in labels.items():
                have = row[key]
                if key == "step":
                    ok &= int(have) == int(want)
                elif key == "lam":
                    ok &= pd.notna(have) and np.isclose(float(have), float(want))
                else:
                    ok &= str(have) == str(want)
            if ok:
                out.append(model)
        return out

    def draw(self, models: list[str]):
        """(comparison, point [model, benchmark], replicates [draw, model, benchmark])."""
        comp = stats.comparison(self.items, models)
        point, reps = stats.replicates(comp, self.n_boot, self.seed)
        return comp, point, reps

    def n_samples(self, comp, models) -> int:
        """Samples behind the comparison: every model's samples on the shared benchmarks."""
        return int(
            sum(self.samples.get((m, b), 0) for m in dict.fromkeys(models) for b in comp.benchmarks)
        )


def _interval_row(run, quantity, model, benchmark, variant, point, reps, comp, n_samples, note=""):
    low, high = stats.interval(reps)
    return {
        "run": run,
        "quantity": quantity,
        "model": model,
        "benchmark": benchmark,
        "variant": variant,
        "value": float(point),
        "ci_low": low,
        "ci_high": high,
        "n_items": comp.n_items if benchmark == "average" else comp.scores[benchmark].shape[1],
        "n_samples": n_samples,
        "note": note,
    }


# --- the derived numbers ----------------------------------------------------------------------


def derived_numbers(ev: Evidence, run: str, alpharl: pd.DataFrame | None, final_step: int, lam):
    """Every number derived from items, with its interval: ``(intervals table, lookup)`` where
    lookup maps a claim quantity (see the papers' claims file) to a row of numbers."""
    base = ev.models(model_kind="base")
    final = ev.models(model_kind="checkpoint", step=final_step)
    if not base or not final:
        raise InputError(f"item verdicts lack the base or the final checkpoint (step {final_step})")
    base, final = base[0], final[0]
    steps = [
        accuracy_numbers(ev, run, base, final, final_step),
        rank_k_numbers(ev, run, base, final, final_step, lam),
        lambda_peak_numbers(ev, run, final_step),
        alpharl_numbers(ev, run, alpharl, base, final, final_step),
    ]
    rows, lookup = [], {}
    for step_rows, step_lookup in steps:
        rows += step_rows
        lookup.update(step_lookup)
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS), lookup


def accuracy_numbers(ev: Evidence, run: str, base: str, final: str, final_step: int):
    """Accuracy of every model, per benchmark and averaged, each drawn beside the base and the
    final checkpoint: ``(rows, lookup)``, lookup holding the final checkpoint's average."""
    rows, lookup = [], {}
    for model in ev.labels:
        comp, point, reps = ev.draw([model, base, final])
        for j, bench in enumerate(comp.benchmarks):
            n_bench = int(ev.samples.get((model, bench), 0))
            rows.append(
                _interval_row(
                    run, "accuracy", model, bench, None, point[0, j], reps[:, 0, j], comp, n_bench
                )
            )
        avg = _interval_row(
            run,
            "accuracy",
            model,
            "average",
            None,
            stats.average(point[0]),
            stats.average(reps[:, 0]),
            comp,
            ev.n_samples(comp, [model]),
        )
        rows.append(avg)
        if model == final:
            lookup["accuracy_avg:final"] = {**avg, "checkpoints": f"step-{final_step}"}
    return rows, lookup


def rank_k_numbers(ev: Evidence, run: str, base: str, final: str, final_step: int, lam):
    """Recovery and relative accuracy of every rank-k model at the final step (λ as
    configured), and the RL gain they are measured against: ``(rows, lookup)``."""
    rows, lookup = [], {}
    for i, model in enumerate(ev.models(model_kind="rank-k", step=final_step, lam=lam)):
        model_rows, model_lookup, gain = rank_k_model_numbers(
            ev, run, model, base, final, final_step
        )
        rows += model_rows
        lookup.update(model_lookup)
        if i == 0:  # the gain is the same for every k
            rows.append(gain)
    return rows, lookup


def rank_k_model_numbers(
    ev: Evidence, run: str, model: str, base: str, final: str, final_step: int
):
    """One rank-k model's recovery and relative accuracy, per benchmark and averaged, from one
    draw of (model, base, final): ``(rows, lookup, RL gain row)``. The average recovery has no
    interval when the gain's interval includes 0, as a ratio to it is then undefined."""
    rows, lookup = [], {}
    k = str(ev.labels[model]["k"])
    comp, point, reps = ev.draw([model, base, final])
    n = ev.n_samples(comp, [model, base, final])
    gain_p = stats.average(point[2]) - stats.average(point[1])
    gain_r = stats.average(reps[:, 2]) - stats.average(reps[:, 1])
    gain = _interval_row(run, "rl_gain", final, "average", None, gain_p, gain_r, comp, n)
    defined = stats.gain_excludes_zero(gain["ci_low"], gain["ci_high"])
    note = "" if defined else "the RL gain's interval includes 0: recovery is undefined"
    for j, bench in enumerate([*comp.benchmarks, "average"]):
        if bench == "average":
            p, r = stats.average(point), stats.average(reps)
        else:
            p, r = point[:, j], reps[:, :, j]
        rec_p = stats.recovery(p[0], p[1], p[2])
        rec_r = stats.recovery(r[:, 0], r[:, 1], r[:, 2])
        variant = ev.labels[model]["variant"]
        row = _interval_row(run, "recovery", model, bench, variant, rec_p, rec_r, comp, n, note)
        if not defined and bench == "average":
            row["ci_low"] = row["ci_high"] = float("nan")
        rows.append(row)
        if bench == "average":
            lookup[f"recovery:{k}"] = {
                **row,
                "variant": f"rank {k}",
                "checkpoints": f"base, step-{final_step}",
            }
        rel = _interval_row(
            run,
            "relative_accuracy",
            model,
            bench,
            None,
            stats.retention(p[0], p[2]),
            stats.retention(r[:, 0], r[:, 2]),
            comp,
            n,
        )
        rows.append(rel)
        lookup[f"relative:{k}:{bench}"] = {**rel, "checkpoints": f"step-{final_step}"}
    return rows, lookup, gain


def lambda_peak_numbers(ev: Evidence, run: str, final_step: int):
    """The λ of the best average accuracy among the rank-1 models at the final step, when
    there are two λ at least: ``(rows, lookup)``."""
    sweep = sorted(
        ev.models(model_kind="rank-k", step=final_step, k="1"),
        key=lambda m: float(ev.labels[m]["lam"]),
    )
    if len(sweep) < 2:
        return [], {}
    lams = [float(ev.labels[m]["lam"]) for m in sweep]
    comp, point, reps = ev.draw(sweep)
    n = ev.n_samples(comp, sweep)
    peak_p = stats.peak(stats.average(point), lams)
    peak_r = stats.peak(stats.average(reps), lams)
    note = f"λ of the best average accuracy among {', '.join(f'{x:g}' for x in lams)}"
    row = _interval_row(
        run, "lambda_peak", "rank-k/k1", "average", None, peak_p, peak_r, comp, n, note
    )
    return [row], {"lambda_peak": {**row, "checkpoints": f"step-{final_step}"}}


@dataclass
class WindowDraw:
    """One AlphaRL method and variant over its windows, sorted by their last step: the
    predicted models, the checkpoints at the windows' ends, the AlphaRL table's rows and
    speed-ups, and one paired draw of ``[*preds, *ends, final, base]`` (average accuracies)
    with the predictions' retention of the final checkpoint's accuracy."""

    method: str
    variant: str
    preds: list[str]
    ends: list[str]
    windows: list[pd.Series]
    speedups: list[float]
    comp: stats.Comparison
    avg_p: np.ndarray
    avg_r: np.ndarray
    ret_p: np.ndarray
    ret_r: np.ndarray


def alpharl_numbers(
    ev: Evidence, run: str, alpharl: pd.DataFrame | None, base: str, final: str, final_step: int
):
    """AlphaRL and the baseline, per method and variant: retention and accuracy per window,
    the window ends' accuracy, the best speed-up at 96 % retention: ``(rows, lookup)``."""
    rows, lookup = [], {}
    if alpharl is None or not len(alpharl):
        return rows, lookup
    for (method, variant), group in alpharl.groupby(["method", "variant"], sort=False):
        draw = draw_alpharl_windows(ev, method, variant, group, base, final)
        window_rows, window_lookup = alpharl_window_numbers(ev, run, draw, final, final_step)
        speedup, speedup_lookup = alpharl_speedup_numbers(ev, run, draw, final)
        rows += [*window_rows, speedup]
        lookup.update(window_lookup)
        lookup.update(speedup_lookup)
    return rows, lookup


def draw_alpharl_windows(
    ev: Evidence, method: str, variant: str, group: pd.DataFrame, base: str, final: str
) -> WindowDraw:
    """The models of one AlphaRL method and variant's windows, drawn together with the final
    checkpoint and the base; an error where a prediction or a window end was not scored."""
    group = group.sort_values("window_last_step")
    preds, ends, windows, speedups = [], [], [], []
    for _, w in group.iterrows():
        found = ev.models(model_kind=method, step=int(w["window_last_step"]), variant=variant)
        end = ev.models(model_kind="checkpoint", step=int(w["window_last_step"]))
        if not found or not end:
            raise InputError(
                f"no item verdicts of {method} {variant} or its checkpoint at window "
                f"end step {int(w['window_last_step'])}"
            )
        preds.append(found[0])
        ends.append(end[0])
        windows.append(w)
        speedups.append(float(w["speedup"]))
    comp, point, reps = ev.draw([*preds, *ends, final, base])
    n_w = len(preds)
    avg_p, avg_r = stats.average(point), stats.average(reps)
    ret_p = stats.retention(avg_p[:n_w], avg_p[-2])
    ret_r = stats.retention(avg_r[:, :n_w], avg_r[:, [-2]])
    return WindowDraw(
        method, variant, preds, ends, windows, speedups, comp, avg_p, avg_r, ret_p, ret_r
    )


def alpharl_window_numbers(ev: Evidence, run: str, draw: WindowDraw, final: str, final_step: int):
    """Each window's retention (a row) and, for windows with a fraction of the run, the
    lookup's retention, prediction accuracy and window-end accuracy: ``(rows, lookup)``."""
    rows, lookup = [], {}
    method, variant, comp, n_w = draw.method, draw.variant, draw.comp, len(draw.preds)
    for i, w in enumerate(draw.windows):
        pred, end = draw.preds[i], draw.ends[i]
        pct = _percent_label(w["window_fraction"])
        n = ev.n_samples(comp, [pred, final])
        row = _interval_row(
            run, "retention", pred, "average", variant, draw.ret_p[i], draw.ret_r[:, i], comp, n
        )
        row["note"] = f"{method}, window {w['window']}"
        rows.append(row)
        if not pct:
            continue
        steps = f"steps ≤ {int(w['window_last_step'])} of {final_step}"
        n = ev.n_samples(comp, [pred])
        acc = _interval_row(
            run, "accuracy_avg", pred, "average", variant, draw.avg_p[i], draw.avg_r[:, i], comp, n
        )
        lookup[f"retention:{method}:{pct}:{variant}"] = {**row, "checkpoints": steps}
        lookup[f"accuracy_avg:{method}:{pct}:{variant}"] = {**acc, "checkpoints": steps}
        end_acc = _interval_row(
            run,
            "accuracy_avg",
            end,
            "average",
            None,
            draw.avg_p[n_w + i],
            draw.avg_r[:, n_w + i],
            comp,
            ev.n_samples(comp, [end]),
        )
        lookup[f"accuracy_avg:window:{pct}"] = {
            **end_acc,
            "checkpoints": f"step-{int(w['window_last_step'])}",
        }
    return rows, lookup


def alpharl_speedup_numbers(ev: Evidence, run: str, draw: WindowDraw, final: str):
    """The best speed-up whose retention reaches 96 %, 1× (the full run) where no window
    reaches it: ``(row, lookup)``."""
    speedups = draw.speedups
    best_p = stats.best_speedup(draw.ret_p, speedups, RETENTION_THRESHOLD)
    best_r = stats.best_speedup(draw.ret_r, speedups, RETENTION_THRESHOLD)
    best_p = 1.0 if np.isnan(best_p) else float(best_p)
    best_r = np.where(np.isnan(best_r), 1.0, best_r)
    n = ev.n_samples(draw.comp, [*draw.preds, final])
    notes = [f"{draw.method}; windows at speed-ups {', '.join(f'{s:.3g}' for s in speedups)}"]
    if np.any(best_r >= max(speedups)):
        notes.append("open-ended above: the shortest window already reaches 96 %")
    if np.any(best_r == 1.0):
        notes.append("1× where no window reaches 96 % (train fully)")
    row = _interval_row(
        run,
        "speedup_at_96",
        draw.method,
        "average",
        draw.variant,
        best_p,
        best_r,
        draw.comp,
        n,
        "; ".join(notes),
    )
    last = max(int(w["window_last_step"]) for w in draw.windows)
    key = f"speedup:{draw.method}:{draw.variant}"
    return row, {key: {**row, "checkpoints": f"windows ending ≤ step {last}"}}


def _percent_label(fraction) -> str | None:
    if pd.isna(fraction):
        return None
    return f"{float(fraction) * 100:g}%"


# --- numbers over matrices ----------------------------------------------------------------


def linearity_numbers(linearity: pd.DataFrame, form: str, alignment: str, n_boot: int, seed: int):
    """Mean in-sample R² over modules, and the share of it a shuffled-accuracy fit reaches,
    with intervals over modules (a module bootstrap, paired for the share)."""
    rows = linearity[(linearity["form"] == form) & (linearity["alignment"] == alignment)]
    rows = rows[np.isfinite(rows["r2"])]
    if rows.empty:
        return {}
    r2 = rows["r2"].to_numpy()
    ctrl = rows["control_mean"].to_numpy()
    mean, low, high = stats.mean_interval(r2, n_boot, seed)
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, len(r2), size=(n_boot, len(r2)))
    share_r = ctrl[draw].mean(axis=1) / r2[draw].mean(axis=1)
    share_low, share_high = stats.interval(share_r)
    T = int(rows["T"].iloc[0])
    common = {
        "basis": "matrices",
        "n_items": len(r2),
        "n_samples": T,
        "checkpoints": f"{T} checkpoints",
        "variant": f"{form}, {alignment}",
    }
    return {
        "r2_mean": {
            **common,
            "value": mean,
            "ci_low": low,
            "ci_high": high,
            "note": f"mean in-sample R² over {len(r2)} modules; interval over modules",
        },
        "r2_control_share": {
            **common,
            "value": float(ctrl.mean() / r2.mean()),
            "ci_low": share_low,
            "ci_high": share_high,
            "note": "mean R² of fits to shuffled accuracies "
            f"({int(rows['control_draws'].iloc[0])} draws a module) over the mean R²",
        },
    }


def parameter_numbers(parameters: pd.DataFrame, final_step: int, n_boot: int, seed: int):
    """The Path Not Taken's numbers at the final checkpoint, with intervals over matrices."""
    final = parameters[parameters["step"] == final_step]
    out = {}
    rng_seed = seed

    def over_matrices(metric, k=None, weighted=False):
        rows = final[final["metric"] == metric]
        if k is not None:
            rows = rows[rows["k"] == k]
        rows = rows[np.isfinite(rows["value"])]
        if rows.empty:
            return None
        values = rows["value"].to_numpy(dtype=float)
        weights = (
            (rows["rows"] * rows["cols"]).to_numpy(dtype=float)
            if weighted
            else np.ones(len(values))
        )
        rng = np.random.default_rng(rng_seed)
        draw = rng.integers(0, len(values), size=(n_boot, len(values)))
        reps = (values[draw] * weights[draw]).sum(axis=1) / weights[draw].sum(axis=1)
        low, high = stats.interval(reps)
        point = float((values * weights).sum() / weights.sum())
        return {
            "basis": "matrices",
            "value": point,
            "ci_low": low,
            "ci_high": high,
            "n_items": len(values),
            "n_samples": None,
            "checkpoints": f"base, step-{final_step}",
            "variant": None,
        }

    sparsity = over_matrices("update_sparsity", weighted=True)
    if sparsity:
        out["update_sparsity"] = {
            **sparsity,
            "note": "share of entries unchanged (η = 1e-3), matrices weighted by size; "
            "interval over matrices",
        }
    angle = over_matrices("principal_angle_left_max_deg", k=1)
    if angle:
        out["principal_angle:1"] = {
            **angle,
            "note": "largest principal angle of the top-1 left singular subspaces, "
            "mean over matrices",
        }
    drift = over_matrices("spectral_shift_nss")
    if drift:
        out["spectral_drift"] = {**drift, "note": "‖σ(W) − σ(W0)‖₂ / ‖σ(W0)‖₂, mean over matrices"}
    return out


# --- the claims table -------------------------------------------------------------------------


def _scaled(row: dict, unit: str) -> dict:
    scale = 100.0 if unit in PERCENT_UNITS else 1.0
    return {
        k: (
            row.get(k) * scale if row.get(k) is not None and np.isfinite(row.get(k)) else row.get(k)
        )
        for k in ("value", "ci_low", "ci_high")
    }


def claims_table(
    paper: pd.DataFrame,
    run: str,
    numbers: dict[str, dict],
    alpharl_variants: list[str],
) -> pd.DataFrame:
    """One row per claim (and per AlphaRL variant where a claim is about AlphaRL)."""
    out = []
    for _, claim in paper.iterrows():
        quantity = claim["quantity"]
        runs = [r.strip() for r in str(claim["runs"]).split(";")]
        for_run = "*" in runs or run in runs
        keys = _quantity_keys(quantity, numbers, alpharl_variants)
        if not keys:
            keys = [(quantity, None)]
        for key, variant in keys:
            ours = numbers.get(key)
            row = {c: None for c in CLAIM_COLUMNS}
            row.update(
                run=run,
                claim=claim["claim"],
                paper=claim["paper"],
                place=claim["place"],
                unit=claim["unit"],
                claim_id=claim["claim_id"],
                variant=variant,
            )
            has_paper = pd.notna(claim["paper_value"])
            if has_paper:
                row.update(
                    paper_value=float(claim["paper_value"]),
                    comparison=claim["comparison"],
                    margin=float(claim["margin"]),
                )
            if ours is not None:
                row.update(_scaled(ours, claim["unit"]))
                row.update(
                    n_items=ours.get("n_items"),
                    n_samples=ours.get("n_samples"),
                    checkpoints=ours.get("checkpoints"),
                    note=ours.get("note") or "",
                )
                if variant is None and ours.get("variant"):
                    row["variant"] = ours["variant"]
            if not has_paper or not for_run:
                row["verdict"] = "not applicable"
                why = (
                    "the paper gives no number"
                    if not has_paper
                    else f"the paper's number is for {claim['runs']}"
                )
                row["note"] = "; ".join(filter(None, [why, row.get("note")]))
            elif ours is None:
                row["verdict"] = "not applicable"
                row["note"] = "this run does not have it"
            else:
                row["verdict"] = verdict(
                    row["comparison"],
                    row["paper_value"],
                    row["margin"],
                    row["ci_low"],
                    row["ci_high"],
                )
                row["basis"] = ours.get("basis", "items")
            out.append(row)
    return pd.DataFrame(out, columns=CLAIM_COLUMNS)


def _quantity_keys(
    quantity: str, numbers: dict, variants: list[str]
) -> list[tuple[str, str | None]]:
    """The computed numbers a claim's quantity names: ``recovery:k`` stands for every rank
    but 1; AlphaRL quantities have one number per variant."""
    if quantity == "recovery:k":
        ks = [key for key in numbers if key.startswith("recovery:") and key != "recovery:1"]
        return [(key, None) for key in ks]
    if (
        quantity.startswith(("retention:alpharl:", "accuracy_avg:alpharl:"))
        or quantity == "speedup:alpharl"
    ):
        return [(f"{quantity}:{v}", v) for v in variants]
    return [(quantity, None)]
