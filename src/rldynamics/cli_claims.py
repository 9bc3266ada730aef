"""The command line of per-item verdicts and claims: ``rescore`` (grade stored completions
again, no generation), ``items`` (gather per-item verdicts), ``claims`` (the claims table with
intervals) and ``seeds`` (the toy world over several seeds, their claims side by side)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("rldynamics")


def cmd_rescore(args) -> None:
    from rldynamics.items import rescore

    for completions in args.completions:
        stem = str(completions).removesuffix(".completions.jsonl.gz")
        out_csv = args.out_csv or f"{stem}.csv"
        out_items = args.out_items or f"{stem}.items.csv"
        if len(args.completions) > 1 and (args.out_csv or args.out_items):
            from rldynamics.errors import InputError

            raise InputError("--out-csv/--out-items name one output: give one completions file")
        results, items = rescore(completions, out_csv, out_items)
        log.info(
            "%s: %d result rows, %d item verdicts → %s, %s",
            completions,
            len(results),
            len(items),
            out_csv,
            out_items,
        )


def cmd_items(args) -> None:
    from rldynamics.claims import gather_items
    from rldynamics.io import write_csv

    table = gather_items(args.inputs)
    write_csv(args.out, table)
    log.info("%d item verdicts from %d evaluations → %s", len(table), len(args.inputs), args.out)


def add_claims_parsers(sub) -> None:
    p = sub.add_parser(
        "rescore",
        help="grade stored completions again with the current grader (no generation)",
    )
    p.add_argument(
        "completions",
        nargs="+",
        type=Path,
        help="<chunk>.completions.jsonl.gz files written by evaluate (evaluate.log_samples)",
    )
    p.add_argument("--out-csv", help="results rows (default: <chunk>.csv beside the input)")
    p.add_argument("--out-items", help="item verdicts (default: <chunk>.items.csv)")
    p.set_defaults(func=cmd_rescore)

    p = sub.add_parser("items", help="gather per-item verdict CSVs into one table")
    p.add_argument("--out", required=True)
    p.add_argument("inputs", nargs="+")
    p.set_defaults(func=cmd_items)
