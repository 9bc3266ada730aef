"""The command line: ``rldynamics <subcommand>`` (or ``python -m rldynamics``).

Each Snakemake rule calls one subcommand; each works the same by hand. Each stage declares its
own commands and flags (``rldynamics.<stage>.cli.add_parsers``); this module only gathers them,
in the stages' order (``rldynamics.STAGES``). Expected bad input ends with a one-line error
naming the file, tensor or key at fault (exit status 2).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time

from rldynamics import STAGES, __version__
from rldynamics.core.errors import InputError
from rldynamics.runs.run_profile import ImportClock, process_age, startup_line

log = logging.getLogger("rldynamics")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rldynamics", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"rldynamics {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        if stage != "core":
            importlib.import_module(f"rldynamics.{stage}.cli").add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    args = build_parser().parse_args(argv)
    started = process_age()
    work_start = time.perf_counter()
    try:
        with ImportClock() as imports:
            args.func(args)
    except InputError as err:
        print(f"rldynamics {args.command}: error: {err}", file=sys.stderr)
        return 2
    if started is not None:  # read back by `rldynamics profile`: imports count as start-up
        worked = time.perf_counter() - work_start - imports.seconds
        log.info(startup_line(args.command, started + imports.seconds, worked))
    return 0
