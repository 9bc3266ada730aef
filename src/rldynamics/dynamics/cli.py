"""The dynamics stage's commands: ``recovery`` (rank-k recovery of the RL gain) and ``dynamics``
(the rank-1 series, linearity of its trajectories with held-out R² and a shuffled control)."""

from __future__ import annotations

import logging

from rldynamics.core.settings import METRIC_HELP, parse_metrics

log = logging.getLogger("rldynamics")


def cmd_recovery(args) -> None:
    from rldynamics.core.io import write_csv
    from rldynamics.evaluate.summary import read_results, recovery_table

    results, metrics = read_results(args.results), parse_metrics(args.metric)
    table = recovery_table(results, metrics, args.final_step, args.lam)
    write_csv(args.out, table)
    for _, row in table[table["benchmark"] == "average"].iterrows():
        log.info(
            "rank-%s recovers %.1f %% of the RL gain (average)", row["k"], 100 * row["recovery"]
        )


def cmd_dynamics(args) -> None:
    from rldynamics.core.io import write_csv
    from rldynamics.dynamics.linearity import linearity_table
    from rldynamics.dynamics.trajectories import load_series, save_series
    from rldynamics.evaluate.summary import checkpoint_accuracy, read_results

    series = load_series(args.factors, args.steps)
    save_series(args.out_series, series)
    accuracy = checkpoint_accuracy(read_results(args.results), parse_metrics(args.metric))
    table, controls = linearity_table(
        series, accuracy, args.holdout_fraction, args.control_draws, args.seed
    )
    write_csv(args.out_table, table)
    write_csv(args.out_control, controls)
    for (form, alignment), group in table.groupby(["form", "alignment"]):
        log.info(
            "%s/%s over %d modules: R² median %.3f, held-out %.3f, shuffled control %.3f",
            form,
            alignment,
            len(group),
            group["r2"].median(),
            group["r2_heldout"].median(),
            group["control_mean"].median(),
        )


# --- parsers ------------------------------------------------------------------------------


def _add_recovery(sub) -> None:
    p = sub.add_parser("recovery", help="rank-k recovery of the RL gain")
    p.add_argument("--results", required=True)
    p.add_argument("--metric", action="append", required=True, help=METRIC_HELP)
    p.add_argument("--final-step", type=int, required=True)
    p.add_argument("--lam", type=float, default=1.0, help="λ of the rank-k models")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_recovery)


def _add_dynamics(sub) -> None:
    p = sub.add_parser("dynamics", help="rank-1 series; linearity with held-out R² and control")
    p.add_argument("--factors", nargs="+", required=True)
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--metric", action="append", required=True, help=METRIC_HELP)
    p.add_argument("--holdout-fraction", type=float, default=0.5)
    p.add_argument("--control-draws", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-series", required=True)
    p.add_argument("--out-table", required=True)
    p.add_argument("--out-control", required=True)
    p.set_defaults(func=cmd_dynamics)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (
        _add_recovery,
        _add_dynamics,
    ):
        add(sub)
