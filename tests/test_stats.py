"""The paired item bootstrap: coverage on planted pairs, pairing, determinism, the derived
statistics and the planning half-widths."""

import time

import numpy as np
import pandas as pd
import pytest

from rldynamics.core import stats
from rldynamics.core.errors import InputError


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _true_difference(shift, spread):
    """E[σ(d + shift) − σ(d)] over item difficulty d ~ N(0, spread²), by Gauss–Hermite."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    d = nodes * spread
    return float((weights * (_sigmoid(d + shift) - _sigmoid(d))).sum() / weights.sum())


def test_interval_covers_a_planted_difference_at_the_nominal_rate():
    """400 planted pairs of models over 200 items (4 samples an item), a known difference in
    the item population: the 95 % interval of the paired difference covers it 92–98 % of the
    time."""
    start = time.process_time()
    rng = np.random.default_rng(20261130)
    pairs, n_items, n_samples, shift, spread = 400, 200, 4, 0.4, 1.5
    truth = _true_difference(shift, spread)
    covered, widths = 0, []
    for pair in range(pairs):
        d = rng.normal(0, spread, n_items)  # a fresh benchmark drawn from the population
        right_a = rng.binomial(n_samples, _sigmoid(d))
        right_b = rng.binomial(n_samples, _sigmoid(d + shift))
        comp = stats.Comparison(
            ["a", "b"], ["bench"], {"bench": np.stack([right_a, right_b]) / n_samples}, {}
        )
        point, reps = stats.replicates(comp, n_boot=1000, seed=pair)
        low, high = stats.interval(reps[:, 1, 0] - reps[:, 0, 0])
        covered += low <= truth <= high
        widths.append(high - low)
    rate = covered / pairs
    print(
        f"coverage {rate:.3f} of {pairs} pairs; truth {truth:.4f}; mean width "
        f"{np.mean(widths):.4f}; {time.process_time() - start:.1f} s CPU"
    )
    assert 0.92 <= rate <= 0.98
    # Pairing matters: the paired interval is narrower than the unpaired one would be.
    unpaired = 2 * 1.96 * np.sqrt(2 * 0.2 / n_items)
    assert np.mean(widths) < unpaired


def _items(models, right, n_samples=1, bench="b"):
    rows = []
    for model, verdicts in zip(models, right):
        for item, c in enumerate(verdicts):
            rows.append(
                {
                    "model": model,
                    "benchmark": bench,
                    "item": item,
                    "n_samples": n_samples,
                    "n_correct": int(c),
                }
            )
    return pd.DataFrame(rows)


def test_comparison_uses_shared_items_and_benchmarks_only():
    table = pd.concat(
        [
            _items(["x", "y"], [[1, 0, 1, 1], [0, 0, 1, 1]], bench="one"),
            _items(["x"], [[1, 1]], bench="only-x"),
        ]
    )
    table = table[~((table["model"] == "y") & (table["item"] == 3))]  # y lacks item 3
    comp = stats.comparison(table, ["x", "y"])
    assert comp.benchmarks == ["one"]
    assert comp.scores["one"].tolist() == [[1, 0, 1], [0, 0, 1]]
    with pytest.raises(InputError, match="no per-item verdicts of model"):
        stats.comparison(table, ["x", "z"])


def test_replicates_are_paired_and_reproducible():
    rng = np.random.default_rng(1)
    right = rng.integers(0, 2, size=(1, 50))
    comp = stats.Comparison(["a", "a-again"], ["b"], {"b": np.vstack([right, right])}, {})
    point, reps = stats.replicates(comp, n_boot=300, seed=5)
    # one draw of items for every model: identical models stay identical in every replicate
    assert np.array_equal(reps[:, 0], reps[:, 1])
    again = stats.replicates(comp, n_boot=300, seed=5)[1]
    assert np.array_equal(reps, again)
    assert not np.array_equal(reps, stats.replicates(comp, n_boot=300, seed=6)[1])


def test_derived_statistics():
    assert stats.recovery(0.8, 0.4, 0.9) == pytest.approx(0.8)
    assert np.isnan(stats.recovery(0.5, 0.4, 0.4))
    assert stats.retention(0.45, 0.5) == pytest.approx(0.9)
    # windows at speed-ups 10, 5, 2: retentions 0.9, 0.97, 0.99 → best speed-up 5
    assert stats.best_speedup(np.array([0.9, 0.97, 0.99]), [10, 5, 2]) == 5
    assert np.isnan(stats.best_speedup(np.array([0.5, 0.6]), [4, 2]))
    assert stats.peak(np.array([[0.1, 0.5, 0.3]]), [0.2, 0.7, 1.0]).tolist() == [0.7]
    assert stats.gain_excludes_zero(0.01, 0.2) and not stats.gain_excludes_zero(-0.01, 0.2)
    mean, low, high = stats.mean_interval([0.9, 0.8, 0.95, 0.85], n_boot=500)
    assert low <= mean <= high and mean == pytest.approx(0.875)


def test_planned_half_width_matches_the_bootstrap():
    """The planning formula against the bootstrap of a simulated benchmark."""
    rng = np.random.default_rng(3)
    n_items, n_samples = 500, 8
    p_item = rng.beta(2, 2, n_items)  # mean 0.5, sd ≈ 0.224
    right = rng.binomial(n_samples, p_item) / n_samples
    comp = stats.Comparison(["m"], ["b"], {"b": right[None, :]}, {})
    low, high = stats.interval(stats.replicates(comp, 2000, 0)[1][:, 0, 0])
    planned = stats.accuracy_half_width(0.5, n_items, n_samples, float(np.sqrt(0.05)))
    assert (high - low) / 2 == pytest.approx(planned, rel=0.15)
    # more samples an item buy little once item difficulty dominates
    assert stats.accuracy_half_width(0.5, 500, 32, 0.3) > 0.85 * stats.accuracy_half_width(
        0.5, 500, 4, 0.3
    )
