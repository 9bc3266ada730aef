"""The AlphaRL stage's commands: ``alpharl`` (the update predicted from an early window, every
window of a variant in one process) and ``alpharl-table`` (each variant against its window's
checkpoint and the full run)."""

from __future__ import annotations

import logging

from rldynamics.core.errors import InputError
from rldynamics.core.settings import METRIC_HELP, parse_metrics
from rldynamics.core.variants import VARIANTS

log = logging.getLogger("rldynamics")


def _each_window(spec: str):
    try:
        label, kind, value, out = spec.split(":", 3)
        if kind == "fraction":
            return float(value), None, label, out
        if kind == "end-step":
            return None, int(value), label, out
    except ValueError:
        pass
    raise InputError(
        f"--each-window wants LABEL:fraction:F:OUT or LABEL:end-step:N:OUT, got {spec!r}"
    )


def _alpharl_windows(args) -> list[tuple[float | None, int | None, str | None, str]]:
    """(fraction, end step, label, out) of every window the command predicts."""
    if args.each_window:
        if args.fraction is not None or args.end_step is not None or args.out:
            raise InputError("alpharl --each-window replaces --fraction/--end-step and --out")
        return [_each_window(spec) for spec in args.each_window]
    if (args.fraction is None) == (args.end_step is None) or not args.out:
        raise InputError("alpharl needs --fraction or --end-step, and --out (or --each-window)")
    return [(args.fraction, args.end_step, args.window_label, args.out)]


def cmd_alpharl(args) -> None:
    from rldynamics.alpharl.predict import predict
    from rldynamics.core.variants import signal_label
    from rldynamics.evaluate.summary import checkpoint_accuracy, read_results

    windows = _alpharl_windows(args)
    accuracy = signal = None
    if args.results:
        metrics = parse_metrics(args.metric or [])
        if not metrics:
            raise InputError("alpharl --results needs --metric BENCHMARK=METRIC (the signal)")
        accuracy = checkpoint_accuracy(read_results(args.results), metrics, args.results)
        signal = signal_label(metrics)
    # One process for every window of a variant: the fits take milliseconds, the start of
    # a process (torch's import) seconds.
    for fraction, end_step, label, out in windows:
        info = predict(
            args.series,
            accuracy,
            fraction,
            out,
            args.variant,
            args.target,
            args.target_step,
            end_step=end_step,
            window_label=label,
            signal=signal,
            base=args.base,
            checkpoints=args.checkpoints,
        )
        log.info(
            "AlphaRL %s, window %s %s: fit against %s; read checkpoints %s and accuracies of "
            "%s; predicted update %.2f× the window end's (median) → %s",
            args.variant,
            info["window"],
            info["window_steps"],
            info["signal"],
            info["checkpoints_read"],
            info["accuracies_read"],
            info["median_norm_ratio_to_window_end"],
            out,
        )


def cmd_alpharl_table(args) -> None:
    from rldynamics.core.io import load_factors, model_dtype, write_csv
    from rldynamics.evaluate.summary import alpharl_table, read_results

    windows = {}
    for spec in args.window:
        try:
            label, fraction, step = spec.split(":")
            windows[label] = (float(fraction), int(step))
        except ValueError as err:
            raise InputError(f"--window wants LABEL:FRACTION:LAST_STEP, got {spec!r}") from err
    predictions = [load_factors(path)[1] for path in args.predictions or []]
    for path, meta in zip(args.predictions or [], predictions):
        missing = {"variant", "window", "signal", "dtype"} - set(meta)
        if missing:
            raise InputError(f"{path}: AlphaRL prediction metadata lacks {sorted(missing)}")
    base_dtype = model_dtype(args.base)
    table = alpharl_table(
        read_results(args.results), parse_metrics(args.metric), windows, predictions, base_dtype
    )
    write_csv(args.out, table)
    for _, row in table.iterrows():
        log.info(
            "%s %s, window %s (to step %d; fit against %s; %s): %.3f; window end %.3f; "
            "final %.3f (retention %.1f %%)",
            row["method"],
            row["variant"],
            row["window"],
            row["window_last_step"],
            row["signal"],
            row["model_dtype"],
            row["prediction"],
            row["window_checkpoint"],
            row["full_run"],
            100 * row["retention"],
        )


# --- parsers ------------------------------------------------------------------------------


def _add_alpharl(sub) -> None:
    p = sub.add_parser("alpharl", help="predict the update from an early window (AlphaRL, RELEX)")
    p.add_argument("--series", required=True, help="rank-1 series file (rldynamics dynamics)")
    p.add_argument("--results", help="checkpoint accuracies (not read by 'prospective')")
    p.add_argument("--metric", action="append", help=METRIC_HELP)
    window = p.add_mutually_exclusive_group()
    window.add_argument("--fraction", type=float, help="window: this share of the run's steps")
    window.add_argument("--end-step", type=int, help="window: every checkpoint up to this step")
    p.add_argument("--window-label", help="the window's name in tables (default its percentage)")
    p.add_argument(
        "--each-window",
        action="append",
        metavar="LABEL:fraction:F:OUT",
        help="predict this window too, into OUT (or LABEL:end-step:N:OUT); repeat for several "
        "windows in one process, instead of --fraction/--end-step, --window-label and --out",
    )
    p.add_argument("--variant", choices=list(VARIANTS), default="paper")
    p.add_argument("--target", type=float, default=1.0, help="y* (paper, official-code)")
    p.add_argument("--target-step", type=int, help="T (prospective, relex; default the last step)")
    p.add_argument("--base", help="base model folder (relex)")
    p.add_argument(
        "--checkpoints",
        help="checkpoint folder, any layout the pipeline reads, or a glob (relex)",
    )
    p.add_argument("--out", help="the prediction file (one window)")
    p.set_defaults(func=cmd_alpharl)


def _add_alpharl_table(sub) -> None:
    p = sub.add_parser("alpharl-table", help="AlphaRL and baseline against window and full run")
    p.add_argument("--results", required=True)
    p.add_argument("--metric", action="append", required=True, help=METRIC_HELP)
    p.add_argument(
        "--window", action="append", required=True, help="LABEL:FRACTION:LAST_STEP (repeat)"
    )
    p.add_argument("--predictions", nargs="*", help="the AlphaRL prediction files (metadata)")
    p.add_argument("--base", required=True, help="base model folder (its dtype)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_alpharl_table)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (
        _add_alpharl,
        _add_alpharl_table,
    ):
        add(sub)
