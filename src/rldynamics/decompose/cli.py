"""The ``decompose`` command: factors of ΔW and, in the same pass, the parameter metrics (their
flags are core.settings', shared with ``parameters`` and ``base-metrics``)."""

from __future__ import annotations

import logging
from pathlib import Path

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


def decompose_targets(args) -> list[tuple[str, Path, Path | None, dict]]:
    """(checkpoint, factor file, metrics CSV or None, metrics labels) of each checkpoint the
    command decomposes: one with --out, any number with --out-dir and --steps."""
    if args.out_dir is None:
        return [_one_target(args)]
    if args.out is not None:
        raise InputError("--out and --out-dir: give one (--out for one checkpoint)")
    if args.metrics_out is not None or args.step is not None:
        raise InputError(
            "--metrics-out and --step are for one checkpoint; with --out-dir give "
            "--metrics-out-dir and --steps"
        )
    steps = args.steps or []
    if len(steps) != len(args.checkpoint) or len(set(steps)) != len(steps):
        raise InputError(
            f"--steps: one distinct step per --checkpoint, got steps {steps} for "
            f"{len(args.checkpoint)} checkpoints"
        )
    if args.base_metrics and not args.metrics_out_dir:
        raise InputError("--base-metrics is used with --metrics-out-dir (or --metrics-out) only")
    out_dir = Path(args.out_dir)
    metrics_dir = Path(args.metrics_out_dir) if args.metrics_out_dir else None
    return [
        (
            checkpoint,
            out_dir / f"step-{step}.safetensors",
            metrics_dir / f"step-{step}.csv" if metrics_dir else None,
            {"run": args.run, "step": step},
        )
        for checkpoint, step in zip(args.checkpoint, steps)
    ]


def _one_target(args) -> tuple[str, Path, Path | None, dict]:
    if args.out is None:
        raise InputError("give --out (one checkpoint) or --out-dir with --steps")
    if len(args.checkpoint) > 1:
        raise InputError(
            f"--out names one factor file but {len(args.checkpoint)} checkpoints were "
            "given: use --out-dir and --steps for several"
        )
    if args.steps or args.metrics_out_dir:
        raise InputError("--steps and --metrics-out-dir go with --out-dir")
    if args.base_metrics and not args.metrics_out:
        raise InputError("--base-metrics is used with --metrics-out only")
    metrics_out = Path(args.metrics_out) if args.metrics_out else None
    return args.checkpoint[0], Path(args.out), metrics_out, metric_labels(args)


def cmd_decompose(args) -> None:
    from rldynamics.decompose.factors import decompose

    targets = decompose_targets(args)
    set_threads(args.threads)
    guard = Guard(
        block=args.block,
        max_steps=args.max_steps,
        sigma_tol=args.sigma_tol,
        vector_tol=args.vector_tol,
    )
    for checkpoint, out, metrics_out, labels in targets:  # (atomic writes make the folders)
        meta = decompose(
            args.base,
            checkpoint,
            args.rank,
            out,
            args.pattern,
            method=args.method,
            device=args.device,
            guard=guard,
            seed=args.seed,
            metrics_out=metrics_out,
            metric_settings=metric_settings(args) if metrics_out else None,
            labels=labels,
            base_metrics=args.base_metrics,
        )
        log.info(
            "factors of %s at rank %s (%s on %s; %s) → %s",
            checkpoint,
            meta["rank"],
            meta["method"],
            meta["device"],
            ", ".join(f"{n} {m}" for m, n in meta["methods_used"].items()),
            out,
        )
        if metrics_out:
            log.info("parameter metrics → %s", metrics_out)


# --- parsers ------------------------------------------------------------------------------


def _add_decompose(sub) -> None:
    guard = Guard()
    p = sub.add_parser("decompose", help="top-k singular factors of ΔW per decomposed matrix")
    p.add_argument("--base", required=True)
    p.add_argument(
        "--checkpoint",
        required=True,
        nargs="+",
        help="checkpoint folder; several with --out-dir and --steps (one process for all)",
    )
    p.add_argument("--rank", required=True, help="positive integer or 'full'")
    p.add_argument("--out", help="the factor file of the one checkpoint")
    p.add_argument(
        "--out-dir",
        help="folder of the factor files step-<N>.safetensors of several checkpoints",
    )
    p.add_argument(
        "--steps",
        type=int,
        nargs="+",
        help="with --out-dir: each checkpoint's step (file names, metrics tables' step)",
    )
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
    p.add_argument(
        "--metrics-out-dir",
        help="with --out-dir: also write each checkpoint's metrics as step-<N>.csv here",
    )
    add_metric_args(p)
    p.set_defaults(func=cmd_decompose)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (_add_decompose,):
        add(sub)
