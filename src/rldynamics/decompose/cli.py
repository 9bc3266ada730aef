"""The ``decompose`` command: factors of ΔW and, in the same pass, the parameter metrics (their
flags are core.settings', shared with ``parameters`` and ``base-metrics``)."""

from __future__ import annotations

import logging

from rldynamics.core.errors import InputError
from rldynamics.core.selection import DEFAULT_PARAM_PATTERN
from rldynamics.core.settings import (
    METHODS,
    Guard,
    add_metric_args,
    metric_labels,
    metric_settings,
    set_threads,
)

log = logging.getLogger("rldynamics")


def cmd_decompose(args) -> None:
    from rldynamics.decompose.factors import decompose

    if args.base_metrics and not args.metrics_out:
        raise InputError("--base-metrics is used with --metrics-out only")
    set_threads(args.threads)
    guard = Guard(
        block=args.block,
        max_steps=args.max_steps,
        sigma_tol=args.sigma_tol,
        vector_tol=args.vector_tol,
    )
    meta = decompose(
        args.base,
        args.checkpoint,
        args.rank,
        args.out,
        args.pattern,
        method=args.method,
        device=args.device,
        guard=guard,
        seed=args.seed,
        metrics_out=args.metrics_out,
        metric_settings=metric_settings(args) if args.metrics_out else None,
        labels=metric_labels(args),
        base_metrics=args.base_metrics,
    )
    log.info(
        "factors of %s at rank %s (%s on %s; %s) → %s",
        args.checkpoint,
        meta["rank"],
        meta["method"],
        meta["device"],
        ", ".join(f"{n} {m}" for m, n in meta["methods_used"].items()),
        args.out,
    )
    if args.metrics_out:
        log.info("parameter metrics → %s", args.metrics_out)


# --- parsers ------------------------------------------------------------------------------


def _add_decompose(sub) -> None:
    guard = Guard()
    p = sub.add_parser("decompose", help="top-k singular factors of ΔW per decomposed matrix")
    p.add_argument("--base", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--rank", required=True, help="positive integer or 'full'")
    p.add_argument("--out", required=True)
    p.add_argument("--pattern", default=DEFAULT_PARAM_PATTERN, help="regex of parameter names")
    p.add_argument(
        "--method",
        choices=list(METHODS),
        default="randomized",
        help="randomized block Krylov with an accuracy guard (default), or the exact SVD",
    )
    p.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random start blocks")
    p.add_argument("--block", type=int, default=guard.block, help="Krylov block size")
    p.add_argument(
        "--max-steps", type=int, default=guard.max_steps, help="Krylov steps before exact SVD"
    )
    p.add_argument(
        "--sigma-tol",
        type=float,
        default=guard.sigma_tol,
        help="estimated relative error allowed on σ1..σk",
    )
    p.add_argument(
        "--vector-tol",
        type=float,
        default=guard.vector_tol,
        help="estimated sin of the angle allowed on u1, v1",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument(
        "--metrics-out", help="also write this checkpoint's Path Not Taken metrics (CSV)"
    )
    add_metric_args(p)
    p.set_defaults(func=cmd_decompose)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (_add_decompose,):
        add(sub)
