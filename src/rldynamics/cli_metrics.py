"""The command line of the parameter metrics: their settings flags (shared by ``decompose``,
``parameters`` and ``base-metrics``) and the ``base-metrics`` command, which writes W0's share
of the metrics once per run (see :mod:`rldynamics.metrics_files`)."""

from __future__ import annotations

import logging

log = logging.getLogger("rldynamics")


def add_metric_settings_args(p) -> None:
    """--angle-ranks, --mask-fraction, --mask-rank with the defaults of MetricSettings."""
    from rldynamics.settings import MetricSettings

    defaults = MetricSettings()
    p.add_argument(
        "--angle-ranks",
        type=int,
        nargs="+",
        default=list(defaults.angle_ranks),
        help="k of the principal angles between top-k singular subspaces",
    )
    p.add_argument(
        "--mask-fraction",
        type=float,
        default=defaults.mask_fraction,
        help="α: share of entries in the principal and low-magnitude masks",
    )
    p.add_argument(
        "--mask-rank",
        type=int,
        default=defaults.mask_rank,
        help="k of the rank-k reconstruction of W0 behind the principal mask",
    )


def add_base_metrics_arg(p) -> None:
    p.add_argument(
        "--base-metrics",
        help="W0's share of the metrics from `rldynamics base-metrics` (default: computed here "
        "for every matrix)",
    )


def metric_settings(args):
    from rldynamics.settings import MetricSettings

    return MetricSettings(
        angle_ranks=tuple(args.angle_ranks),
        mask_fraction=args.mask_fraction,
        mask_rank=args.mask_rank,
    )


def set_threads(threads: int) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def cmd_base_metrics(args) -> None:
    from rldynamics.metrics_files import write_base_metrics

    set_threads(args.threads)
    meta = write_base_metrics(args.base, args.out, args.pattern, metric_settings(args), args.device)
    log.info("base metrics of %d matrices of %s → %s", meta["params"], args.base, args.out)


def add_base_metrics_parser(sub) -> None:
    from rldynamics.selection import DEFAULT_PARAM_PATTERN

    p = sub.add_parser(
        "base-metrics", help="W0's share of the parameter metrics, once per run (safetensors)"
    )
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pattern", default=DEFAULT_PARAM_PATTERN, help="regex of parameter names")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    add_metric_settings_args(p)
    p.set_defaults(func=cmd_base_metrics)
