"""`rldynamics profile`: where a finished run's time went (rldynamics.runs.run_profile)."""

from __future__ import annotations

import math
import os

import pandas as pd
import pytest

from rldynamics.cli import main
from rldynamics.core.errors import InputError
from rldynamics.runs.run_profile import (
    STARTUP,
    Job,
    critical_path,
    process_age,
    read_jobs,
    startup_line,
)


def job(name, start, end):
    return Job(name, name.split("/")[0], start, end, end - start, end - start, 1.0, 2.0)


def test_critical_path_follows_the_job_that_ended_last_before_each_began():
    jobs = [
        job("warmup", 0, 100),
        job("rl", 100.5, 120),
        job("decompose/a", 121, 125),  # beside eval/a, ends first
        job("eval/a", 121, 140),
        job("decompose/b", 125.5, 129),  # off the path: nothing waited on it
        job("table", 141, 143),
    ]
    path = critical_path(jobs, slack=2.0)
    assert [j.name for j in path] == ["warmup", "rl", "eval/a", "table"]
    # the slack allows for timestamps: a job seen to end just after the next began still counts
    jobs[1] = job("rl", 99.5, 120)
    assert [j.name for j in critical_path(jobs, slack=2.0)][:2] == ["warmup", "rl"]
    assert [j.name for j in critical_path(jobs, slack=0.0)][:2] == ["rl", "eval/a"]


def test_the_startup_line_is_read_back():
    line = startup_line("decompose", 1.234, 0.5)
    assert STARTUP.search(f"2026 rldynamics INFO {line}").groups() == ("decompose", "1.23", "0.50")
    age = process_age()
    assert age is None or 0 <= age < 3600


def test_a_folder_without_benchmarks_is_named(tmp_path):
    with pytest.raises(InputError, match=str(tmp_path / "benchmarks")):
        read_jobs(tmp_path)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks/x.tsv").write_text("s\th:m:s\n")
    with pytest.raises(InputError, match="x.tsv"):
        read_jobs(tmp_path)


@pytest.mark.slow
def test_profile_of_the_reduced_run(slurm_run, tmp_path, capsys):
    # the uninterrupted run: every job ran once, in one snakemake
    results = slurm_run / "results/ci"
    table, stem = tmp_path / "jobs.csv", tmp_path / "gantt"
    argv = ["profile", "--results", str(results), "--out-table", str(table)]
    assert main([*argv, "--out-figure", str(stem), "--out-report", str(tmp_path / "p.md")]) == 0
    printed = capsys.readouterr().out
    assert "Observed critical path" in printed and "| eval |" in printed
    jobs = pd.read_csv(table)
    # every job of the run wrote a benchmark file, and every one but the copies of
    # step_factors (cp, no Python) runs an rldynamics command whose log says how long its
    # process took to start
    assert len(jobs) == len(list((results / "benchmarks").rglob("*.tsv")))
    assert {"toy_base", "toy_rl", "decompose", "step_factors", "eval", "claims"} <= set(
        jobs["rule"]
    )
    commands = jobs[jobs["rule"] != "step_factors"]
    assert commands["startup"].notna().all() and (commands["startup"] > 0).all()
    assert jobs[jobs["rule"] == "step_factors"]["startup"].isna().all()
    path = critical_path(read_jobs(results), slack=2.0)
    assert set(jobs[jobs["critical"]]["name"]) == {j.name for j in path}
    assert path[0].name == "toy_task" and path[-1].end == jobs["end"].max()
    assert all(a.end <= b.start + 2.0 for a, b in zip(path, path[1:]))
    assert (stem.with_suffix(".png")).stat().st_size > 0
    assert not math.isnan(jobs["cpu"].sum()) and os.path.exists(tmp_path / "p.md")


def test_every_rule_writes_a_benchmark_file_beside_its_log():
    """The profile sees every job only if every rule that runs a command benchmarks it, at
    its log's path under benchmarks/ (how the profile finds the log's start-up line)."""
    import re

    from tests.conftest import REPO

    for path in sorted((REPO / "workflow/rules").glob("*.smk")):
        blocks = re.split(r"\n(?=\s*rule \w+:)", path.read_text())
        for block in blocks:
            name = re.match(r"\s*rule (\w+):", block)
            if not name or "shell:" not in block:
                continue
            log = re.search(r"log:\s*\n\s*(.+)", block).group(1)
            bench = re.search(r"benchmark:\s*\n\s*(.+)", block)
            assert bench, f"{path.name}: rule {name.group(1)} has no benchmark"
            expected = log.replace("/logs/", "/benchmarks/", 1).replace('.log"', '.tsv"')
            assert bench.group(1).rstrip(",") == expected.rstrip(","), name.group(1)
