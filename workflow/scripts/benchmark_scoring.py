"""Scoring cost, old path against new, side by side in one run (not a test).

Old path (one model per process, as the pipeline first did): write the rank-k model as an HF
folder with `rldynamics build`, then score that folder with `rldynamics evaluate` in a fresh
process. New path: one `rldynamics evaluate --spec` process scores all the models, each built
in memory from base + factors; no folder is written.

Needs a finished toy run (base model and factor files):
    python workflow/scripts/benchmark_scoring.py --results results/toy --models 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/toy", help="a finished toy run")
    parser.add_argument("--models", type=int, default=8, help="rank-1 models to score")
    parser.add_argument("--task", default="workflow/tasks/toy_arithmetic.yaml")
    args = parser.parse_args()
    results = Path(args.results)
    base = results / "models/base"
    data = results / "data/test.jsonl"
    factor_dir = sorted((results / "factors").glob("k*"))[0]
    factors = sorted(factor_dir.glob("step-*.safetensors"), key=lambda p: int(p.stem[5:]))
    factors = factors[: args.models]
    if not factors:
        sys.exit(f"no factor files under {results}/factors: run the toy world first")
    cli = [sys.executable, "-m", "rldynamics"]

    def spec(models):
        return {
            "run": "benchmark",
            "base": str(base),
            "benchmarks": [{"name": Path(args.task).stem, "task": args.task, "data": str(data)}],
            "generation": {"temperature": 0.0, "top_p": 1.0, "n": 1, "max_new_tokens": 8},
            "models": models,
        }

    def score(models, out: Path) -> pd.DataFrame:
        run(
            [
                *cli,
                "evaluate",
                "--spec",
                json.dumps(spec(models)),
                "--out-csv",
                f"{out}.csv",
                "--out-json",
                f"{out}.json",
            ]
        )
        return pd.read_csv(f"{out}.csv")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        # Old path: a folder per model, a process per evaluation.
        start = time.perf_counter()
        old_rows = []
        for i, factor in enumerate(factors):
            folder = scratch / f"model-{i}"
            run(
                [
                    *cli,
                    "build",
                    "--base",
                    str(base),
                    "--factors",
                    str(factor),
                    "--rank",
                    "1",
                    "--out",
                    str(folder),
                ]
            )
            model = {"key": factor.stem, "model_kind": "rank-k", "folder": str(folder)}
            old_rows.append(score([model], scratch / f"old-{i}"))
        old_seconds = time.perf_counter() - start
        old_bytes = sum(folder_bytes(scratch / f"model-{i}") for i in range(len(factors)))

        # New path: one process, models in memory.
        models = [
            {"key": f.stem, "model_kind": "rank-k", "factors": str(f), "rank": "1"} for f in factors
        ]
        before = {p for p in scratch.rglob("*")}
        start = time.perf_counter()
        new = score(models, scratch / "new")
        new_seconds = time.perf_counter() - start
        written = [
            p for p in scratch.rglob("*") if p not in before and p.suffix not in (".csv", ".json")
        ]
        new_bytes = sum(p.stat().st_size for p in written if p.is_file())

    old = pd.concat(old_rows, ignore_index=True)
    old_acc = old[old["metric"] == "acc"]["value"].tolist()
    new_acc = new[new["metric"] == "acc"]["value"].tolist()
    print(f"models scored: {len(factors)} rank-1 models of {factor_dir.name} factor files")
    print(
        f"old path (folder + process per model): {old_seconds:7.1f} s, "
        f"{old_bytes / 1e6:.1f} MB of model folders written"
    )
    print(
        f"new path (one process, in memory):     {new_seconds:7.1f} s, "
        f"{new_bytes / 1e6:.1f} MB of model folders written"
    )
    print(f"speed-up of scoring: {old_seconds / new_seconds:.2f}x")
    print(f"same accuracies: {old_acc == new_acc} (old {old_acc}, new {new_acc})")


if __name__ == "__main__":
    main()
