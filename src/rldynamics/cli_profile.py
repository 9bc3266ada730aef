"""The ``profile`` command: where a finished run's time went, per rule and per job, its
observed critical path and the share of process start (:mod:`rldynamics.run_profile`)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("rldynamics")


def cmd_profile(args) -> None:
    from rldynamics import run_profile
    from rldynamics.io import write_csv, write_text

    jobs = run_profile.read_jobs(args.results)
    path = run_profile.critical_path(jobs, slack=args.slack)
    text = run_profile.summary(jobs, path)
    print(text, end="")
    if args.out_table:
        write_csv(args.out_table, run_profile.jobs_frame(jobs, path))
    if args.out_report:
        write_text(args.out_report, f"# Profile of {args.results}\n\n{text}")
    if args.out_figure:
        from rldynamics.figures import run_gantt

        run_gantt(jobs, path, args.out_figure, Path(args.results).name)
        log.info("figure → %s.{png,pdf}", args.out_figure)


def add_profile_parser(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="where a finished run's time went: per rule, per job, critical path, process start",
    )
    p.add_argument("--results", required=True, help="the run's folder, results/<run>")
    p.add_argument("--slack", type=float, default=2.0, help="seconds between jobs on one path")
    p.add_argument("--out-table", help="CSV of every job (start, end, wall, CPU, critical)")
    p.add_argument("--out-report", help="the printed summary, as Markdown")
    p.add_argument("--out-figure", help="stem of the jobs-over-time figure (.png and .pdf)")
    p.set_defaults(func=cmd_profile)
