"""The ``figures`` command: the run's main figures from its tables."""

from __future__ import annotations

import logging
from pathlib import Path

from rldynamics.core.errors import InputError
from rldynamics.core.settings import METRIC_HELP, parse_metrics

log = logging.getLogger("rldynamics")


def cmd_figures(args) -> None:
    import pandas as pd

    from rldynamics.dynamics.trajectories import load_series_file
    from rldynamics.evaluate.summary import checkpoint_accuracy, read_results
    from rldynamics.figures import draw as figures

    out = Path(args.out_dir)
    metrics = parse_metrics(args.metric)
    results = read_results(args.results)
    figures.accuracy_vs_step(results, metrics, out / "accuracy_vs_step", args.run, args.lam)
    recovery = pd.read_csv(args.recovery, dtype={"k": str})
    figures.recovery_vs_k(recovery, out / "recovery_vs_k", args.run)
    figures.lambda_sweep(results, metrics, out / "lambda_sweep", args.run)
    trajectory = [args.linearity, args.control, args.series, args.alpharl]
    if any(trajectory) and not all(trajectory):
        raise InputError("figures: give --linearity, --control, --series and --alpharl together")
    if all(trajectory):
        series = load_series_file(args.series)
        accuracy = checkpoint_accuracy(results, metrics)
        linearity, control = pd.read_csv(args.linearity), pd.read_csv(args.control)
        figures.r2_histogram(
            linearity, control, out / "r2_histogram", args.run, args.form, args.alignment
        )
        figures.alpharl_windows(pd.read_csv(args.alpharl), out / "alpharl_windows", args.run)
        figures.trajectories(series, accuracy, out / "trajectories", args.run)
        figures.tsne(series, out / "tsne", args.run)
        # The released code's form: u1 alone, PCA to 2 dimensions (visualize_rank1_u_tsne).
        figures.tsne(series, out / "tsne_released", args.run, form="u1", pca_components=2)
    log.info("figures → %s", out)


# --- parsers ------------------------------------------------------------------------------


def _add_figures(sub) -> None:
    p = sub.add_parser("figures", help="draw the figures from the tables")
    p.add_argument("--results", required=True)
    p.add_argument("--recovery", required=True)
    trajectory_help = "trajectory tables (all four, or none for a single-checkpoint run)"
    p.add_argument("--linearity", help=trajectory_help)
    p.add_argument("--control", help=trajectory_help)
    p.add_argument("--alpharl", help=trajectory_help)
    p.add_argument("--series", help=trajectory_help)
    p.add_argument("--metric", action="append", required=True, help=METRIC_HELP)
    p.add_argument("--lam", type=float, default=1.0, help="λ of the rank-1 overlay")
    p.add_argument(
        "--form",
        default="fro-u1",
        help="trajectory form of the R² histogram (fro-u1, sigma1-u1, u1)",
    )
    p.add_argument("--alignment", default="backward", help="sign alignment of the R² histogram")
    p.add_argument("--run", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_figures)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (_add_figures,):
        add(sub)
