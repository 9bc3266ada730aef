"""The command line of forecasts: ``forecast`` (where a run in progress will end, and whether
its extrapolated model lets it stop now) and ``backtest`` (how often such forecasts were right
on finished runs). The maths is in :mod:`rldynamics.forecast.line`."""

from __future__ import annotations

import logging

from rldynamics.core.errors import InputError
from rldynamics.core.settings import METRIC_HELP, parse_metrics

log = logging.getLogger("rldynamics")


def _model_interval(items_path, metrics, model_kind, step, variant):
    """Average accuracy of one model and its 95 % interval over items (paired bootstrap)."""
    from rldynamics.claims.derived import gather_items, item_scores
    from rldynamics.core import stats

    items = item_scores(gather_items([items_path]), metrics)
    # the model by kind, step and variant: the pipeline's AlphaRL rows carry k 1 and λ 1
    mine = (
        (items["model_kind"] == model_kind)
        & (items["step"].astype(int) == int(step))
        & (items["variant"].astype(str) == variant)
    )
    keys = sorted(set(items.loc[mine, "model"]))
    if len(keys) != 1:
        return None
    key = keys[0]
    point, reps = stats.replicates(stats.comparison(items, [key]))
    low, high = stats.interval(stats.average(reps[:, 0, :]))
    return float(stats.average(point[0])), low, high, int(len(items[items["model"] == key]))


def _report_head(run, target, steps, accuracies) -> list[str]:
    return [
        f"# Forecast of run `{run}` at step {target}",
        "",
        f"Checkpoints read: {len(steps)}, steps {', '.join(map(str, steps))}; their "
        f"average accuracy {', '.join(f'{100 * a:.1f}' for a in accuracies)} %.",
        "",
    ]


def _model_line(model, variant, target, last) -> str:
    if not model:
        return f"- Extrapolated model (`{variant}`): not scored at step {last}."
    value, low, high, n = model
    return (
        f"- Extrapolated model (AlphaRL `{variant}` from every checkpoint so far, at step "
        f"{target}): **{100 * value:.1f} %** [{100 * low:.1f}, {100 * high:.1f}] over {n} items."
    )


def forecast_report(run, fc, model, variant, tolerance, text) -> str:
    lines = _report_head(run, fc.target_step, fc.steps, fc.accuracies) + [
        f"- Forecast at step {fc.target_step}: **{100 * fc.value:.1f} %**, 95 % prediction "
        f"interval [{100 * fc.low:.1f}, {100 * fc.high:.1f}] (a line in log step through the "
        f"checkpoints; residual sd {100 * fc.residual_sd:.1f} points).",
        _model_line(model, variant, fc.target_step, fc.steps[-1]),
        "",
        f"**Verdict** (tolerance ± {100 * tolerance:g} points): {text}.",
        "",
    ]
    return "\n".join(lines)


def no_interval_report(run, curve, target, model, variant) -> str:
    """The report of two checkpoints: a line through them has no spread, so no interval."""
    steps = sorted(curve)
    nxt = steps[-1] + (steps[-1] - steps[0])
    lines = _report_head(run, target, steps, [curve[s] for s in steps]) + [
        f"- Forecast at step {target}: **no prediction interval** from {len(steps)} "
        "checkpoints (a line through two points has no residual spread); a third checkpoint "
        "gives one.",
        _model_line(model, variant, target, steps[-1]),
        "",
        f"**Verdict**: the forecast cannot be given yet: keep training to at least step {nxt} "
        "(a third checkpoint).",
        "",
    ]
    return "\n".join(lines)


def cmd_forecast(args) -> None:
    if args.results is None:
        if not args.checkpoints:
            raise InputError("forecast: give --results (a scored run) or --checkpoints (a folder)")
        from rldynamics.forecast.folder import run_folder_forecast

        print(run_folder_forecast(args))
        return
    if args.checkpoints:
        raise InputError("forecast: give --results or --checkpoints, not both")
    if not args.metric:
        raise InputError("forecast --results: give --metric BENCHMARK=METRIC (repeat)")
    table_forecast(args)


def table_forecast(args) -> None:
    import pandas as pd

    from rldynamics.core.io import write_csv, write_text
    from rldynamics.evaluate.summary import average_accuracy, read_results
    from rldynamics.forecast.line import checkpoint_curve, forecast, forecast_row, verdict

    metrics = parse_metrics(args.metric)
    table = read_results(args.results)
    curve = checkpoint_curve(average_accuracy(table, metrics))
    target = args.target_step or max(curve)
    run = str(table["run"].iloc[0])
    last = max(curve)
    model = (
        _model_interval(args.items, metrics, "alpharl", last, args.variant) if args.items else None
    )
    if len(curve) == 2 and target > last:
        row = {"run": run, "variant": args.variant, "target_step": target, "n_checkpoints": 2}
        report = no_interval_report(run, curve, target, model, args.variant)
    else:
        fc = forecast(list(curve), list(curve.values()), target)
        text = verdict(fc, model[0] if model else None, args.tolerance)
        row = forecast_row(
            fc, run=run, variant=args.variant, tolerance=args.tolerance, verdict=text
        )
        report = forecast_report(run, fc, model, args.variant, args.tolerance, text)
    if model:
        row.update(model=model[0], model_low=model[1], model_high=model[2], model_items=model[3])
    if args.out_table:
        write_csv(args.out_table, pd.DataFrame([row]))
    if args.out_report:
        write_text(args.out_report, report)
    print(report)


def cmd_backtest(args) -> None:
    import pandas as pd

    from rldynamics.core.io import write_csv
    from rldynamics.evaluate.summary import average_accuracy, read_results
    from rldynamics.figures.draw import backtest_figure
    from rldynamics.forecast.line import backtest, checkpoint_curve, coverage

    if args.alpharl and len(args.alpharl) != len(args.results):
        raise InputError("backtest: give one --alpharl table per --results table, in order")
    metrics = parse_metrics(args.metric)
    tables, curves = [], {}
    for i, path in enumerate(args.results):
        results = read_results(path)
        run = str(results["run"].iloc[0])
        curves[run] = checkpoint_curve(average_accuracy(results, metrics))
        alpharl = pd.read_csv(args.alpharl[i], dtype={"window": str}) if args.alpharl else None
        windows = (
            dict(zip(alpharl["window"], alpharl["window_last_step"]))
            if alpharl is not None
            else {str(s): s for s in sorted(curves[run])[2:-1]}
        )
        tables.append(backtest(run, curves[run], windows, alpharl))
    table = pd.concat(tables, ignore_index=True)
    if table.empty:
        raise InputError("backtest: no window holds the three checkpoints a forecast needs")
    write_csv(args.out, table)
    backtest_figure(table, curves, args.out_figure)
    inside, total = coverage(table)
    log.info(
        "backtest over %d run(s): %d/%d windows' realized accuracy inside the 95 %% prediction "
        "interval (coverage %.0f %%)",
        len(curves),
        inside,
        total,
        100 * inside / total,
    )


# --- parsers ------------------------------------------------------------------------------


def _add_forecast(sub) -> None:
    p = sub.add_parser(
        "forecast",
        help="where a run in progress will end at a target step, and whether to stop now",
    )
    p.add_argument("--results", help="table mode: a scored run's tables/results.csv")
    p.add_argument("--metric", action="append", help=METRIC_HELP + "; folder mode: default acc")
    p.add_argument("--items", help="the run's tables/items.csv.gz (the model's interval)")
    p.add_argument("--target-step", type=int, help="T (default the last checkpoint's step)")
    p.add_argument("--variant", default="prospective", help="the extrapolated model's variant")
    p.add_argument("--tolerance", type=float, default=0.05, help="points, as a share (0.05)")
    p.add_argument("--out-table", help="one-row CSV of the forecast")
    p.add_argument("--out-report", help="the report (Markdown)")
    folder = "folder mode: "
    p.add_argument(
        "--checkpoints",
        help=folder + "the run's checkpoints so far (checkpoint-N, step-N or global_step_N "
        "folders, or a glob whose first '*' is the step); runs the pipeline on them",
    )
    p.add_argument("--base", help=folder + "the base model's HF folder")
    p.add_argument(
        "--benchmark",
        action="append",
        help=folder + "NAME=TASK_YAML[:DATA], an lm-eval task and its local data (repeat)",
    )
    p.add_argument("--workdir", default="forecast-work", help=folder + "where results/ go")
    p.add_argument("--run", default="forecast", help=folder + "the run's name in the workdir")
    p.add_argument("--cores", default="all", help=folder + "snakemake's --cores")
    p.set_defaults(func=cmd_forecast)


def _add_backtest(sub) -> None:
    p = sub.add_parser(
        "backtest", help="forecast each window's future on finished runs: coverage and figure"
    )
    p.add_argument("--results", action="append", required=True, help="a run's results (repeat)")
    p.add_argument("--alpharl", action="append", help="its tables/alpharl.csv (same order)")
    p.add_argument("--metric", action="append", required=True, help=METRIC_HELP)
    p.add_argument("--out", required=True, help="the backtest table (CSV)")
    p.add_argument("--out-figure", required=True, help="the figure (.png; a .pdf beside)")
    p.set_defaults(func=cmd_backtest)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (
        _add_forecast,
        _add_backtest,
    ):
        add(sub)
