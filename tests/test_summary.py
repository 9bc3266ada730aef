import pandas as pd
import pytest

from rldynamics.core.errors import InputError
from rldynamics.evaluate.summary import alpharl_table, checkpoint_accuracy, recovery_table


def row(kind, step, value, k="", variant="", bench="b1", metric="acc"):
    return dict(
        run="r",
        model_kind=kind,
        step=step,
        k=k,
        lam=1.0 if kind == "rank-k" else None,
        variant=variant,
        benchmark=bench,
        metric=metric,
        value=value,
        n=100,
        stderr=0.01,
    )


TABLE = pd.DataFrame(
    [
        row("base", 0, 0.2),
        row("base", 0, 0.4, bench="b2"),
        row("checkpoint", 10, 0.5),
        row("checkpoint", 10, 0.5, bench="b2"),
        row("checkpoint", 20, 0.6),
        row("checkpoint", 20, 0.8, bench="b2"),
        row("checkpoint", 20, 0.99, bench="b2", metric="other"),
        row("rank-k", 20, 0.5, k="1", variant="frobenius"),
        row("rank-k", 20, 0.7, k="1", variant="frobenius", bench="b2"),
        row("alpharl", 10, 0.58, k="1", variant="paper"),
        row("alpharl", 10, 0.78, k="1", variant="paper", bench="b2"),
        row("baseline", 10, 0.5, variant="whole-weight"),
        row("baseline", 10, 0.6, variant="whole-weight", bench="b2"),
    ]
)
METRICS = {"b1": "acc", "b2": "acc"}


def test_recovery_per_benchmark_and_average():
    rec = recovery_table(TABLE, METRICS, 20).set_index("benchmark")
    assert rec.loc["b1", "recovery"] == pytest.approx((0.5 - 0.2) / (0.6 - 0.2))
    assert rec.loc["b2", "recovery"] == pytest.approx((0.7 - 0.4) / (0.8 - 0.4))
    assert rec.loc["average", "recovery"] == pytest.approx((0.6 - 0.3) / (0.7 - 0.3))


def test_checkpoint_accuracy_averages_primary_metrics():
    assert checkpoint_accuracy(TABLE, METRICS) == pytest.approx({10: 0.5, 20: 0.7})


def test_a_signal_the_table_does_not_hold_is_named():
    with pytest.raises(InputError, match="results.csv holds no checkpoint scores of b1 pass@4"):
        checkpoint_accuracy(TABLE, {"b1": "pass@4", "b2": "acc"}, "results.csv")


def test_alpharl_table_retention_and_speedup():
    meta = [
        {"variant": "paper", "window": "50", "signal": "mean of b1 acc + b2 acc", "dtype": "auto"}
    ]
    table = alpharl_table(TABLE, METRICS, {"50": (0.5, 10)}, meta, "bfloat16").set_index("method")
    out = table.loc["alpharl"]
    assert out["prediction"] == pytest.approx(0.68)
    assert out["retention"] == pytest.approx(0.68 / 0.7)
    assert out["speedup"] == pytest.approx(2.0)


def test_alpharl_table_names_window_signal_and_dtype():
    meta = [{"variant": "paper", "window": "released", "signal": "b1 pass@4", "dtype": "float32"}]
    table = alpharl_table(TABLE, METRICS, {"released": (0.5, 10)}, meta, "bfloat16")
    table = table.set_index("method")
    assert table.loc["alpharl", "window"] == "released"
    assert table.loc["alpharl", "signal"] == "b1 pass@4"
    assert table.loc["alpharl", "model_dtype"] == "float32"
    assert table.loc["alpharl", "reads_after_window"].startswith("the final accuracy")
    assert table.loc["baseline", "model_dtype"] == "bfloat16"
    assert table.loc["baseline", "reads_after_window"] == "nothing"
    with pytest.raises(InputError, match="paper, window released"):
        alpharl_table(TABLE, METRICS, {"released": (0.5, 10)}, [], "bfloat16")
