"""Settings of the decomposition engine and of the parameter metrics.

Plain dataclasses without heavy imports: the command line builds its flags and defaults from
them, and the DAG can read them cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

from rldynamics.core.errors import InputError

METHODS = ("randomized", "exact")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Guard:
    """Settings of the randomized method and its accuracy guard.

    See :mod:`rldynamics.decompose.lowrank`.
    """

    block: int = 16  # columns per Krylov block (at least k); 16 suits CPU GEMM kernels
    max_steps: int = 16  # Krylov steps before falling back to the exact SVD
    sigma_tol: float = 1e-5  # estimated relative error allowed on σ_1..σ_k
    vector_tol: float = 1e-3  # estimated sin of the angle allowed on (u_1, v_1)
    zero_level: float = 1e-5  # Ritz values and residuals below this × σ̃_1 count as zero

    def __post_init__(self):
        if self.block < 1 or self.max_steps < 1:
            raise InputError(f"block and max_steps must be positive, got {self}")
        if self.sigma_tol <= 0 or self.vector_tol <= 0:
            raise InputError(f"tolerances must be positive, got {self}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MetricSettings:
    """Settings of the Path Not Taken metrics (see :mod:`rldynamics.decompose.param_metrics`)."""

    angle_ranks: tuple[int, ...] = (1, 8, 32)
    mask_fraction: float = 0.05  # α
    mask_rank: int = 8  # k of the rank-k reconstruction that defines M_princ
    eta: float = 1e-3  # relative tolerance of "unchanged"

    def __post_init__(self):
        if not self.angle_ranks or any(int(k) < 1 for k in self.angle_ranks):
            raise InputError(f"angle ranks must be positive integers, got {self.angle_ranks}")
        if not 0 < self.mask_fraction < 1:
            raise InputError(f"mask fraction α must lie in (0, 1), got {self.mask_fraction}")
        if self.mask_rank < 1:
            raise InputError(f"mask rank must be a positive integer, got {self.mask_rank}")
        if self.eta < 0:
            raise InputError(f"η must be non-negative, got {self.eta}")


# --- argument readers shared by the stages' command lines ----------------------------------

METRIC_HELP = "BENCHMARK=METRIC, the primary metric of each benchmark (repeat)"


def parse_metrics(pairs: list[str]) -> dict[str, str]:
    """``BENCH=METRIC`` pairs → {benchmark: primary metric}."""
    out = {}
    for pair in pairs:
        bench, sep, metric = pair.partition("=")
        if not sep or not bench or not metric:
            raise InputError(f"--metric wants BENCHMARK=METRIC, got {pair!r}")
        out[bench] = metric
    return out


def add_dataclass_args(parser, cls, prefix: str = "") -> None:
    """One ``--<prefix><field>`` flag per field of a settings dataclass, with its default."""
    for field in dataclasses.fields(cls):
        parser.add_argument(
            f"--{prefix}{field.name.replace('_', '-')}",
            dest=f"{prefix.replace('-', '_')}{field.name}",
            type=type(field.default),
            default=field.default,
            help=f"(default {field.default})",
        )


def dataclass_from(args, cls, prefix: str = ""):
    """The settings dataclass ``cls`` read back from the flags of :func:`add_dataclass_args`."""
    key = prefix.replace("-", "_")
    return cls(**{f.name: getattr(args, f"{key}{f.name}") for f in dataclasses.fields(cls)})


# --- the parameter metrics' flags (decompose, parameters, base-metrics) ---------------------


def add_metric_args(p) -> None:
    """The metric flags of a command that writes one checkpoint's metrics table."""
    add_metric_settings_args(p)
    add_base_metrics_arg(p)
    p.add_argument("--run", help="run name written into the metrics table")
    p.add_argument("--step", type=int, help="checkpoint step written into the metrics table")


def add_metric_settings_args(p) -> None:
    """--angle-ranks, --mask-fraction, --mask-rank with the defaults of MetricSettings."""
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
    """--base-metrics: W0's share, computed once per run."""
    p.add_argument(
        "--base-metrics",
        help="W0's share of the metrics from `rldynamics base-metrics` (default: computed here "
        "for every matrix)",
    )


def metric_settings(args) -> MetricSettings:
    """MetricSettings from the flags of :func:`add_metric_settings_args`."""
    return MetricSettings(
        angle_ranks=tuple(args.angle_ranks),
        mask_fraction=args.mask_fraction,
        mask_rank=args.mask_rank,
    )


def set_threads(threads: int) -> None:
    """torch's CPU threads (0: torch's own choice)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def metric_labels(args) -> dict:
    """The run and step a metrics table is labelled with."""
    return {"run": args.run, "step": args.step}
