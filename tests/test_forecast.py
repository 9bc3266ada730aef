"""The forecast of a run in progress and its backtest (rldynamics.forecast.line)."""

import math

import numpy as np
import pandas as pd
import pytest

from rldynamics.cli import main
from rldynamics.core.errors import InputError
from rldynamics.forecast.line import backtest, coverage, forecast, step_for_width, verdict

STEPS = [10, 20, 30, 40, 50, 60]


def log_line(steps, a=0.2, b=0.1):
    return [a + b * math.log(s) for s in steps]


def test_an_exact_log_line_is_forecast_exactly_with_a_zero_width_interval():
    fc = forecast(STEPS, log_line(STEPS), 200)
    assert fc.value == pytest.approx(0.2 + 0.1 * math.log(200))
    assert fc.half_width == pytest.approx(0, abs=1e-9)


def test_the_prediction_interval_covers_95_percent_of_new_observations():
    """The interval's defining property, on simulated runs with the curve's own noise."""
    rng = np.random.default_rng(0)
    truth = log_line([200])[0]
    inside = 0
    draws = 2000
    for _ in range(draws):
        noisy = np.array(log_line(STEPS)) + rng.normal(0, 0.03, len(STEPS))
        fc = forecast(STEPS, noisy, 200)
        inside += fc.low <= truth + rng.normal(0, 0.03) <= fc.high
    assert 0.93 <= inside / draws <= 0.97


def test_bad_forecast_inputs_are_named():
    with pytest.raises(InputError, match="at least three checkpoints"):
        forecast([10, 20], [0.1, 0.2], 100)
    with pytest.raises(InputError, match="before the last checkpoint"):
        forecast(STEPS, log_line(STEPS), 50)
    with pytest.raises(InputError, match="distinct and positive"):
        forecast([0, 10, 20], [0.1, 0.2, 0.3], 100)


def test_the_verdict_says_stop_keep_training_or_falls_short():
    tight = forecast(STEPS, log_line(STEPS), 200)
    assert "stopping now saves 140 steps" in verdict(tight, tight.value - 0.01, 0.05)
    assert "falls 10.0 points short" in verdict(tight, tight.value - 0.10, 0.05)
    noisy = forecast(
        STEPS, np.array(log_line(STEPS)) + [0.05, -0.05, 0.04, -0.06, 0.05, -0.04], 200
    )
    text = verdict(noisy, noisy.value, 0.05)
    assert "too uncertain" in text and "keep training to" in text
    until = step_for_width(noisy, 0.05)
    assert until is None or STEPS[-1] < until <= 200


def test_backtest_forecasts_the_last_step_from_each_window_and_counts_coverage():
    steps = list(range(10, 210, 10))
    curve = dict(zip(steps, log_line(steps)))
    table = backtest("t", curve, {"10": 20, "20": 40, "50": 100}, None)
    assert list(table["window"]) == ["20", "50"]  # the 10 % window has two checkpoints
    assert table["realized"].tolist() == [curve[200]] * 2
    assert coverage(table) == (2, 2)
    assert np.allclose(table["error"], 0, atol=1e-9)


def results_table(run, steps, accuracy, alpharl_at=None):
    rows = [
        dict(
            run=run,
            model_kind="base",
            step=0,
            k=None,
            lam=None,
            variant=None,
            benchmark="b",
            metric="acc",
            value=0.1,
            n=50,
            stderr=0.0,
            grader="3",
        )
    ]
    for s in steps:
        rows.append(dict(rows[0], model_kind="checkpoint", step=s, value=accuracy[s]))
    if alpharl_at:
        step, value = alpharl_at
        rows.append(
            dict(
                rows[0], model_kind="alpharl", step=step, k="1", variant="prospective", value=value
            )
        )
    return pd.DataFrame(rows)


def test_forecast_and_backtest_commands_write_their_tables_report_and_figure(tmp_path, capsys):
    steps = list(range(10, 70, 10))
    accuracy = dict(zip(steps, log_line(steps)))
    target = 200
    predicted = log_line([target])[0]
    results_table("t", steps, accuracy, (60, predicted)).to_csv(tmp_path / "r.csv", index=False)
    items = pd.DataFrame(
        [
            dict(
                run="t",
                model_kind="alpharl",
                step=60,
                k="1",
                lam=None,
                variant="prospective",
                benchmark="b",
                item=i,
                doc_hash="",
                n_samples=1,
                n_correct=int(i < 30),
                grader="3",
            )
            for i in range(50)
        ]
    )
    items.to_csv(tmp_path / "items.csv.gz", index=False)
    main(
        [
            "forecast",
            "--results",
            str(tmp_path / "r.csv"),
            "--metric",
            "b=acc",
            "--items",
            str(tmp_path / "items.csv.gz"),
            "--target-step",
            str(target),
            "--out-table",
            str(tmp_path / "f.csv"),
            "--out-report",
            str(tmp_path / "f.md"),
        ]
    )
    out = capsys.readouterr().out
    assert f"Forecast at step {target}: **{100 * predicted:.1f} %**" in out
    assert "over 50 items" in out and "Verdict" in out
    row = pd.read_csv(tmp_path / "f.csv").iloc[0]
    assert row["model"] == pytest.approx(0.6) and row["n_checkpoints"] == 6
    assert (tmp_path / "f.md").read_text().strip() == out.strip()
    early = ["--target-step", "30"]
    assert main(["forecast", "--results", str(tmp_path / "r.csv"), "--metric", "b=acc", *early])
    assert "target step 30 is before the last checkpoint read (60)" in capsys.readouterr().err
    main(
        [
            "backtest",
            "--results",
            str(tmp_path / "r.csv"),
            "--metric",
            "b=acc",
            "--out",
            str(tmp_path / "bt.csv"),
            "--out-figure",
            str(tmp_path / "bt"),
        ]
    )
    table = pd.read_csv(tmp_path / "bt.csv")
    assert len(table) == 3 and table["covered"].all()
    assert (tmp_path / "bt.png").exists() and (tmp_path / "bt.pdf").exists()
