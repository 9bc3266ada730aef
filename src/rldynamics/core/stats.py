"""Uncertainty of every number derived from benchmark items: a paired bootstrap over items.

Why paired: the models of one comparison (base, final checkpoint, rank-k, AlphaRL …) are scored
on the same items, and item difficulty dominates the variance. Every bootstrap replicate draws
one resample of each benchmark's items (with replacement, as many as the benchmark has) and
uses it for *every* model of the comparison, so shared difficulty cancels in differences and
ratios. Benchmarks are resampled separately (stratified), as they are fixed by design.

An item's score is its share of correct samples (``n_correct / n_samples``), so the spread of
samples within an item is carried by the items' scores; resampling items covers both sources.

Intervals are percentile intervals at ``CONFIDENCE`` from ``N_BOOT`` replicates drawn with a
seeded generator: the same items and seed give the same interval on any machine.

The functions:

- :func:`comparison` — the per-item score matrices of a set of models on the items they share;
- :func:`replicates` — model × benchmark accuracies, the point value and every replicate;
- :func:`interval` — the percentile interval of a statistic's replicates;
- :func:`recovery`, :func:`retention`, :func:`best_speedup`, :func:`peak` — the derived
  statistics, applied alike to the point value and to the replicates;
- :func:`accuracy_half_width`, :func:`difference_half_width` — the expected 95 % half-width at a
  budget of items and samples, from the between-item spread (for planning a run);
- :func:`mean_interval` — a bootstrap interval of a mean over units (modules, seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rldynamics.core.errors import InputError

N_BOOT = 2000
CONFIDENCE = 0.95
Z95 = 1.959963984540054  # the normal quantile behind a 95 % two-sided interval


@dataclass
class Comparison:
    """Per-item scores of ``models`` on the items every one of them was scored on."""

    models: list
    benchmarks: list[str]
    scores: dict[str, np.ndarray]  # benchmark → [model, item] share of correct samples
    n_samples: dict[str, int]  # benchmark → total samples behind one model's score

    @property
    def n_items(self) -> int:
        return int(sum(s.shape[1] for s in self.scores.values()))


def comparison(items: pd.DataFrame, models: list, benchmarks: list[str] | None = None):
    """The items of ``models`` (each a key of ``items["model"]``) on their shared items.

    ``items`` holds one row per model, benchmark and item with ``n_samples`` and ``n_correct``
    (``rldynamics.core.columns.ITEM_COLUMNS`` plus a ``model`` key). Only benchmarks every
    model was scored on are used, and within them only shared items, so that the comparison is
    paired.
    """
    frame = items[items["model"].isin(models)]
    absent = [m for m in models if m not in set(frame["model"])]
    if absent:
        raise InputError(f"no per-item verdicts of model(s) {absent}")
    held = frame.groupby("benchmark")["model"].nunique()
    shared = sorted(held[held == len(set(models))].index)
    if benchmarks is not None:
        shared = [b for b in benchmarks if b in shared]
    if not shared:
        raise InputError(f"models {models} share no benchmark")
    scores, samples = {}, {}
    for bench in shared:
        rows = frame[frame["benchmark"] == bench]
        if (rows["n_samples"] <= 0).any():
            raise InputError(f"{bench}: an item was scored with no sample")
        share = rows["n_correct"] / rows["n_samples"]
        table = rows.assign(share=share).pivot_table(
            index="model", columns="item", values="share", aggfunc="first"
        )
        table = table.loc[list(dict.fromkeys(models))].dropna(axis=1)  # shared items only
        if table.shape[1] == 0:
            raise InputError(f"{bench}: models {models} share no item")
        # duplicated model keys (a model compared with itself) read the same row
        scores[bench] = table.loc[models].to_numpy(dtype=float)
        samples[bench] = int(
            rows[rows["item"].isin(table.columns)].groupby("model")["n_samples"].sum().min()
        )
    return Comparison(list(models), shared, scores, samples)


def replicates(comp: Comparison, n_boot: int = N_BOOT, seed: int = 0):
    """Accuracy of each model on each benchmark: the point value [model, benchmark] and the
    bootstrap replicates [replicate, model, benchmark], the same item draw for every model."""
    rng = np.random.default_rng(seed)
    point = np.stack([comp.scores[b].mean(axis=1) for b in comp.benchmarks], axis=1)
    reps = np.empty((n_boot, len(comp.models), len(comp.benchmarks)))
    for j, bench in enumerate(comp.benchmarks):
        s = comp.scores[bench]
        draw = rng.integers(0, s.shape[1], size=(n_boot, s.shape[1]))
        # mean over the drawn items, for every model at once: [replicate, model]
        reps[:, :, j] = s[:, draw].mean(axis=2).T
    return point, reps


def average(values: np.ndarray) -> np.ndarray:
    """The cross-benchmark average the paper reports: the mean of per-benchmark accuracies."""
    return values.mean(axis=-1)


def interval(reps: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile interval of a statistic's replicates; NaN where too few are defined."""
    reps = np.asarray(reps, dtype=float)
    finite = reps[np.isfinite(reps)]
    if len(finite) < 0.5 * len(reps) or not len(finite):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def recovery(acc_k, acc_base, acc_final):
    """(acc(W(k)) − acc(W0)) / (acc(W_final) − acc(W0)); NaN where the gain is 0."""
    gain = np.asarray(acc_final, dtype=float) - acc_base
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gain != 0, (np.asarray(acc_k) - acc_base) / gain, np.nan)


def retention(acc_pred, acc_final):
    """A prediction's accuracy over the full run's; NaN where the full run scores 0."""
    acc_final = np.asarray(acc_final, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(acc_final != 0, np.asarray(acc_pred) / acc_final, np.nan)


def best_speedup(retentions: np.ndarray, speedups, threshold: float = 0.96) -> np.ndarray:
    """The largest speed-up whose retention reaches ``threshold``, per replicate.

    ``retentions``: [..., window]; ``speedups``: per window. NaN where no window reaches it.
    """
    ok = np.asarray(retentions) >= threshold
    values = np.where(ok, np.asarray(speedups, dtype=float), -np.inf).max(axis=-1)
    return np.where(np.isfinite(values), values, np.nan)


def peak(values: np.ndarray, positions) -> np.ndarray:
    """The position (λ) of the largest value along the last axis, per replicate."""
    return np.asarray(positions, dtype=float)[np.argmax(values, axis=-1)]


def gain_excludes_zero(low: float, high: float) -> bool:
    """A ratio to a gain is defined only when the gain's interval keeps off 0."""
    return np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0)


def mean_interval(values, n_boot: int = N_BOOT, seed: int = 0, confidence=CONFIDENCE):
    """The mean of independent units (modules, seeds) and its bootstrap interval."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    low, high = interval(draws, confidence)
    return float(values.mean()), low, high


# --- planning: the interval a budget buys ---------------------------------------------------


def item_variance(p: float, n_samples: int, between_item_sd: float) -> float:
    """Variance of one item's score (share of n correct samples) around the benchmark's mean p.

    Items differ in their chance of being right (sd ``between_item_sd``); within an item, n
    samples add binomial noise: E[p_i(1 − p_i)]/n = (p(1 − p) − sd²)/n.
    """
    between = min(between_item_sd**2, p * (1 - p))
    return between + (p * (1 - p) - between) / max(1, n_samples)


def accuracy_half_width(p: float, n_items: int, n_samples: int, between_item_sd: float):
    """Expected 95 % half-width of a benchmark accuracy at ``n_items`` × ``n_samples``."""
    return Z95 * np.sqrt(item_variance(p, n_samples, between_item_sd) / max(1, n_items))


def difference_half_width(
    p: float, n_items: int, n_samples: int, between_item_sd: float, correlation: float
):
    """Expected 95 % half-width of a paired accuracy difference between two models whose item
    scores correlate by ``correlation`` (shared difficulty): var = 2·v·(1 − ρ)/items."""
    var = item_variance(p, n_samples, between_item_sd)
    return Z95 * np.sqrt(2 * var * (1 - correlation) / max(1, n_items))


def accuracy_covariance(p, n_items, n_samples, between_item_sd, correlation: float):
    """[model, model] covariance of the benchmark accuracies of models scored on nested subsets
    of one benchmark's items (model i on ``n_items[i]`` items at ``n_samples[i]`` samples, its
    accuracy ``p[i]``, its items' chances spread by ``between_item_sd[i]``). Two models' chances
    on an item correlate by ``correlation`` over the items both are scored on; sampling noise is
    independent between models."""
    p, items, n, sd = (np.asarray(x, dtype=float) for x in (p, n_items, n_samples, between_item_sd))
    sd = np.minimum(sd, np.sqrt(p * (1 - p)))
    shared = np.minimum.outer(items, items)
    cov = correlation * np.outer(sd, sd) * shared / np.outer(items, items)
    variance = [item_variance(pi, ni, si) / ii for pi, ni, si, ii in zip(p, n, sd, items)]
    np.fill_diagonal(cov, variance)
    return cov


def delta_half_width(gradient, covariance) -> float:
    """Expected 95 % half-width of a smooth statistic of accuracies by the delta method: its
    ``gradient`` at the expected accuracies and their ``covariance``."""
    g = np.asarray(gradient, dtype=float)
    return float(Z95 * np.sqrt(max(0.0, g @ np.asarray(covariance, dtype=float) @ g)))


def recovery_gradient(acc_k: float, acc_base: float, acc_final: float) -> np.ndarray:
    """∂ recovery / ∂ (acc_k, acc_base, acc_final), recovery = (acc_k − base)/(final − base)."""
    gain = acc_final - acc_base
    r = (acc_k - acc_base) / gain
    return np.array([1.0, r - 1.0, -r]) / gain


def retention_gradient(acc_pred: float, acc_final: float) -> np.ndarray:
    """∂ retention / ∂ (acc_pred, acc_final), retention = acc_pred / acc_final."""
    return np.array([1.0, -acc_pred / acc_final]) / acc_final


def between_item_sd(n_correct, n_samples, deterministic: bool = False) -> float:
    """The spread of items' chances of being right, from per-item verdicts of one model.

    The observed variance of item scores holds the within-item sampling variance, estimated
    without bias by x(1 − x)/(n − 1) per item; what remains lies between items. With one sample
    per item the two cannot be told apart unless decoding is greedy (``deterministic``: all
    variance is between items); NaN then."""
    c, n = np.asarray(n_correct, dtype=float), np.asarray(n_samples, dtype=float)
    x = c / n
    if len(x) < 2:
        return float("nan")
    if deterministic:
        return float(np.sqrt(x.var(ddof=1)))
    if (n < 2).any():
        return float("nan")
    within = (x * (1 - x) / (n - 1)).mean()
    return float(np.sqrt(max(0.0, x.var(ddof=1) - within)))
