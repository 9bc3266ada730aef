"""Where a finished run's time went, read from its own files (``rldynamics profile``).

Every job of the workflow writes ``benchmarks/<job>.tsv`` (Snakemake's benchmark: wall and CPU
seconds) and ``logs/<job>.log``, whose last line from the command line says how long the
process spent starting (the interpreter, then every import statement, :class:`ImportClock`)
and how long working (:func:`startup_line`).
A benchmark file is written as its job ends, so its modification time is the job's end and
``end - wall`` its start. From these: time per rule and per job, process start against work,
and the *observed* critical path: from the job that ended last, back through the job that
ended last before each one began (within ``slack`` seconds, Snakemake's own scheduling) —
the chain of jobs whose speed-up would have shortened this run.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from rldynamics.core.errors import InputError

STARTUP = re.compile(r"rldynamics (\S+): started in ([0-9.]+) s, worked ([0-9.]+) s")


def startup_line(command: str, started: float, worked: float) -> str:
    """The log line that :data:`STARTUP` reads back."""
    return f"rldynamics {command}: started in {started:.2f} s, worked {worked:.2f} s"


class ImportClock:
    """Seconds spent in import statements while active (outermost ones only, so a module is
    counted once with what it imports). Modules that transformers loads lazily, on first use
    of a name, fall outside the statements and count as work."""

    def __enter__(self) -> ImportClock:
        import builtins

        self.seconds, self._depth = 0.0, 0
        self._original = builtins.__import__

        def timed_import(*args, **kwargs):
            if self._depth:
                return self._original(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return self._original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self._depth -= 1

        builtins.__import__ = timed_import
        return self

    def __exit__(self, *exc) -> None:
        import builtins

        builtins.__import__ = self._original


def process_age() -> float | None:
    """Seconds since this process was created (Linux ``/proc``; None elsewhere)."""
    import os

    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Job:
    """One finished job: its name (the benchmark file's path below ``benchmarks/``), rule,
    start and end (seconds since the epoch), wall and CPU seconds, and process start and
    work seconds where its log says them (NaN otherwise)."""

    name: str
    rule: str
    start: float
    end: float
    wall: float
    cpu: float
    startup: float
    work: float


def _benchmark_row(path: Path) -> tuple[float, float]:
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise InputError(f"{path}: not a Snakemake benchmark file (no data row)")
    header, row = lines[0].split("\t"), lines[1].split("\t")
    try:
        values = dict(zip(header, row, strict=True))
        return float(values["s"]), float(values.get("cpu_time") or "nan")
    except (KeyError, ValueError) as err:
        raise InputError(f"{path}: not a Snakemake benchmark file ({err})") from err


def _startup(log: Path) -> tuple[float, float]:
    if not log.exists():
        return math.nan, math.nan
    found = STARTUP.findall(log.read_text(errors="replace"))
    if not found:
        return math.nan, math.nan
    # A job that runs several commands (rare) starts each: add them up.
    return sum(float(s) for _, s, _ in found), sum(float(w) for _, _, w in found)


def read_jobs(results: str | Path) -> list[Job]:
    """The jobs of a finished run folder (``results/<run>``), ordered by start."""
    results = Path(results)
    bench = results / "benchmarks"
    files = sorted(bench.rglob("*.tsv")) if bench.is_dir() else []
    if not files:
        raise InputError(f"{bench}: no benchmark files (is {results} a finished run folder?)")
    jobs = []
    for path in files:
        wall, cpu = _benchmark_row(path)
        relative = path.relative_to(bench).with_suffix("")
        end = path.stat().st_mtime
        startup, work = _startup(results / "logs" / relative.with_suffix(".log"))
        rule = relative.parts[0]
        jobs.append(Job(str(relative), rule, end - wall, end, wall, cpu, startup, work))
    return sorted(jobs, key=lambda j: j.start)


def critical_path(jobs: list[Job], slack: float = 2.0) -> list[Job]:
    """The observed critical path, first job first (see the module's docstring)."""
    if not jobs:
        return []
    chain = [max(jobs, key=lambda j: j.end)]
    while True:
        before = [j for j in jobs if j.end <= chain[-1].start + slack and j not in chain]
        if not before:
            return chain[::-1]
        chain.append(max(before, key=lambda j: j.end))


def jobs_frame(jobs: list[Job], path: list[Job] | None = None):
    """The jobs as a table, one row each; with ``path``, a ``critical`` column."""
    import pandas as pd

    frame = pd.DataFrame([j.__dict__ for j in jobs])
    if path is not None:
        frame["critical"] = frame["name"].isin({j.name for j in path})
    return frame


def by_rule(jobs: list[Job]):
    """Per rule: jobs, wall (sum, mean, max), CPU, process start and work (sums)."""
    table = (
        jobs_frame(jobs)
        .groupby("rule")
        .agg(
            jobs=("name", "size"),
            wall_s=("wall", "sum"),
            mean_s=("wall", "mean"),
            max_s=("wall", "max"),
            cpu_s=("cpu", "sum"),
            startup_s=("startup", lambda s: s.sum(min_count=1)),
            work_s=("work", lambda s: s.sum(min_count=1)),
        )
    )
    return table.sort_values("wall_s", ascending=False).reset_index()


def summary(jobs: list[Job], path: list[Job]) -> str:
    """The profile as Markdown: the span, per rule, the critical path."""
    span = max(j.end for j in jobs) - min(j.start for j in jobs)
    walls = sum(j.wall for j in jobs)
    startups = [j.startup for j in jobs if not math.isnan(j.startup)]
    rules = by_rule(jobs)
    lines = [
        f"Run span {span:.0f} s (first job's start to last job's end); {len(jobs)} jobs, "
        f"{walls:.0f} s of job wall time summed ({walls / span:.2f} jobs at a time on average).",
        f"Process start (interpreter and imports, before the work) in the {len(startups)} jobs "
        f"whose log says it: {sum(startups):.0f} s summed.",
        "",
        "| rule | jobs | wall s (sum) | mean s | max s | CPU s | start s | work s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rules.itertuples():
        lines.append(
            f"| {row.rule} | {row.jobs} | {row.wall_s:.1f} | {row.mean_s:.1f} | {row.max_s:.1f}"
            f" | {row.cpu_s:.1f} | {_fmt(row.startup_s)} | {_fmt(row.work_s)} |"
        )
    on_path = sum(j.wall for j in path)
    idle = sum(max(0.0, b.start - a.end) for a, b in zip(path, path[1:]))
    lines += [
        "",
        f"Observed critical path: {len(path)} jobs, {on_path:.0f} s of job time over the "
        f"{span:.0f} s span, {idle:.0f} s between one job's end and the next's start "
        "(Snakemake's scheduling).",
        "",
        "```",
        "  start s   wall s  job",
    ]
    lines += [f"{j.start - path[0].start:8.1f} {j.wall:8.1f}  {j.name}" for j in path]
    return "\n".join([*lines, "```"]) + "\n"


def _fmt(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1f}"
