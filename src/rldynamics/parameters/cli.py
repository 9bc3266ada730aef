"""The parameter metrics' commands: ``base-metrics`` (W0's share, once per run), ``parameters``
(one checkpoint's metrics alone), ``parameter-table`` and ``parameter-figures``."""

from __future__ import annotations

import logging
from pathlib import Path

from rldynamics.core.errors import InputError
from rldynamics.core.selection import DEFAULT_PARAM_PATTERN
from rldynamics.core.settings import (
    add_metric_args,
    add_metric_settings_args,
    metric_labels,
    metric_settings,
    set_threads,
)

log = logging.getLogger("rldynamics")


def cmd_parameters(args) -> None:
    from rldynamics.decompose.metrics_files import checkpoint_metrics

    frame = checkpoint_metrics(
        args.base,
        args.checkpoint,
        args.out,
        args.pattern,
        metric_settings(args),
        args.device,
        metric_labels(args),
        base_metrics=args.base_metrics,
    )
    log.info("%d metric rows of %s → %s", len(frame), args.checkpoint, args.out)


def cmd_parameter_table(args) -> None:
    import pandas as pd

    from rldynamics.core.io import write_csv
    from rldynamics.decompose.param_metrics import concat_tables

    frames = []
    for path in args.inputs:
        if not Path(path).exists():
            raise InputError(f"parameter-metric table not found: {path}")
        frames.append(pd.read_csv(path, dtype={"k": "Int64", "layer": "Int64"}))
    table = concat_tables(frames)
    write_csv(args.out, table)
    log.info("%d parameter-metric rows from %d checkpoints → %s", len(table), len(frames), args.out)


def cmd_parameter_figures(args) -> None:
    import pandas as pd

    from rldynamics.parameters import figures

    path = Path(args.table)
    if not path.exists():
        raise InputError(f"parameter-metric table not found: {path}")
    table = pd.read_csv(path, dtype={"k": "Int64", "layer": "Int64"})
    out = Path(args.out_dir)
    figures.sparsity_by_type(table, out / "update_sparsity", args.run)
    figures.principal_angles_by_layer(table, out / "principal_angles", args.run)
    figures.spectral_drift(table, out / "spectral_drift", args.run)
    log.info("parameter figures → %s", out)


def cmd_base_metrics(args) -> None:
    from rldynamics.decompose.metrics_files import write_base_metrics

    set_threads(args.threads)
    meta = write_base_metrics(args.base, args.out, args.pattern, metric_settings(args), args.device)
    log.info("base metrics of %d matrices of %s → %s", meta["params"], args.base, args.out)


# --- parsers ------------------------------------------------------------------------------


def _add_parameters(sub) -> None:
    p = sub.add_parser("parameters", help="Path Not Taken metrics of one checkpoint (CSV)")
    p.add_argument("--base", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pattern", default=DEFAULT_PARAM_PATTERN, help="regex of parameter names")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_metric_args(p)
    p.set_defaults(func=cmd_parameters)


def _add_parameter_table(sub) -> None:
    p = sub.add_parser("parameter-table", help="gather per-checkpoint metric CSVs into one")
    p.add_argument("--out", required=True)
    p.add_argument("inputs", nargs="+")
    p.set_defaults(func=cmd_parameter_table)


def _add_parameter_figures(sub) -> None:
    p = sub.add_parser("parameter-figures", help="draw the parameter-metric figures")
    p.add_argument("--table", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_parameter_figures)


def _add_base_metrics(sub) -> None:
    from rldynamics.core.selection import DEFAULT_PARAM_PATTERN

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


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (
        _add_base_metrics,
        _add_parameters,
        _add_parameter_table,
        _add_parameter_figures,
    ):
        add(sub)
