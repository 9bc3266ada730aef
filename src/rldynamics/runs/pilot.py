"""The compute plan's pilot: a few items of the base and the final model scored on the user's
own hardware, through the same scoring path as the pipeline (:func:`rldynamics.evaluate.scoring.
score_models`), to measure what the plan is priced with.

Measured: mean completion length per benchmark (tokens of the base model's tokenizer), the
base and final accuracy per benchmark, the between-item share of the variance and the items'
correlation between the two models (:mod:`rldynamics.core.stats`), the throughput (generated tokens
over the time spent in lm-eval's generation) and the engine start (the rest of the call's
time, per engine: one per call with hf, one per model with vllm).
"""

from __future__ import annotations

import copy
import logging
import math
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from rldynamics import REPOSITORY
from rldynamics.core import stats
from rldynamics.core.errors import InputError
from rldynamics.evaluate.job import ScoringJob

log = logging.getLogger(__name__)


def _task_path(task: str, workdir: Path) -> str:
    """A task YAML as the DAG finds it: absolute, in the working directory, or the repository."""
    path = Path(task)
    if path.is_absolute():
        return str(path)
    return str(workdir / path) if (workdir / path).exists() else str(REPOSITORY / path)


def pilot_job(config: dict, steps: list[int], workdir: Path, items: int) -> ScoringJob:
    """The scoring job of the pilot: base and final checkpoint, ``items`` seeded items of
    every configured benchmark, the run's sampling (a spec as the DAG writes it, read once)."""
    results = workdir / "results" / config["run"]
    base = results / "models" / "base"
    final = results / "checkpoints" / f"step-{steps[-1]}"
    for folder in (base, final):
        if not folder.is_dir():
            raise InputError(
                f"compute-plan --pilot: {folder} not found; the pilot scores the run's base "
                "and final model: run the pipeline up to the checkpoints first "
                f"(snakemake ... {results}/checkpoints/manifest.csv)"
            )
    ev = config["evaluate"]
    benchmarks = [
        {
            "name": name,
            "task": _task_path(bench["task"], workdir),
            "data": (
                str(workdir / bench["data"].replace("{results}", f"results/{config['run']}"))
                if bench.get("data")
                else None
            ),
            "dataset": bench.get("dataset"),
        }
        for name, bench in config["benchmarks"].items()
    ]
    labels = dict(k=None, lam=None, variant=None)
    spec = {
        "run": config["run"],
        "base": str(base),
        "benchmarks": benchmarks,
        "models": [
            {**labels, "key": "base", "model_kind": "base", "step": 0, "folder": str(base)},
            {
                **labels,
                "key": f"checkpoint/step-{steps[-1]}",
                "model_kind": "checkpoint",
                "step": steps[-1],
                "folder": str(final),
            },
        ],
        "backend": ev["backend"],
        "generation": dict(ev["generation"]),
        "chat_template": ev["chat_template"],
        "log_samples": True,
        "batch_size": ev["batch_size"],
        "device": ev["device"],
        "gpus": ev["gpus"],
        "trust_remote_code": config["base"]["trust_remote_code"],
        "limit": ev["limit"],
        "item_limit": items,
        "seed": config["seed"],
    }
    if ev["backend"] == "vllm":  # the engine's settings, as the pipeline's scoring jobs get them
        spec["vllm"] = ev["vllm"]
    return ScoringJob.from_spec(spec, "compute-plan --pilot")


def _score(job: ScoringJob, folder: Path, name: str):
    """Score ``job``; its wall time, per-item verdicts and completion records."""
    from rldynamics.evaluate.items import read_completions
    from rldynamics.evaluate.scoring import score_models

    out = {s: folder / f"{name}.{s}" for s in ("csv", "json", "items.csv", "jsonl.gz")}
    start = time.perf_counter()
    score_models(job, out["csv"], out["json"], out["items.csv"], out["jsonl.gz"])
    wall = time.perf_counter() - start
    return wall, pd.read_csv(out["items.csv"]), list(read_completions(out["jsonl.gz"]))


@contextmanager
def generation_timer():
    """Seconds spent in lm-eval's ``generate_until`` of the hf and vllm models, summed over
    the calls made inside the block: the time of generating, without what a call costs
    before it generates (loading lm-eval, the datasets and the model: the engine start)."""
    import importlib

    spent = [0.0]
    patched = []
    for module_name, class_name in (
        ("lm_eval.models.huggingface", "HFLM"),
        ("lm_eval.models.vllm_causallms", "VLLM"),
    ):
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):  # vllm is absent on machines without a GPU
            continue
        original = cls.generate_until

        def timed(self, *args, _original=original, **kwargs):
            start = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        cls.generate_until = timed
        patched.append((cls, original))
    try:
        yield spent
    finally:
        for cls, original in patched:
            cls.generate_until = original


def measure(config: dict, steps: list[int], workdir: Path, items: int = 4) -> dict:
    """The pilot's figures (see the module's docstring)."""
    from transformers import AutoTokenizer

    job = pilot_job(config, steps, workdir, items)
    with tempfile.TemporaryDirectory(prefix="rldynamics-pilot-") as tmp:
        with generation_timer() as spent:
            wall, verdicts, records = _score(job, Path(tmp), "pilot")
    generating = spent[0]
    tokenizer = AutoTokenizer.from_pretrained(job.base, trust_remote_code=job.trust_remote_code)
    lengths: dict[str, list[int]] = {}
    for record in records:
        for text in record["completions"]:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            lengths.setdefault(record["benchmark"], []).append(len(ids))
    generated = sum(sum(v) for v in lengths.values())
    throughput = generated / generating if generating > 0 else float("nan")
    # hf loads lm-eval and the base once per call; vllm starts an engine per model
    starts = 1 if job.backend == "hf" else len(job.models)
    engine_s = max(0.0, wall - generating) / starts
    greedy = job.generation.temperature == 0
    per_benchmark, shares, correlations = {}, [], []
    for name, rows in verdicts.groupby("benchmark"):
        rows = rows.assign(score=rows["n_correct"] / rows["n_samples"])
        by_kind = {kind: r.set_index("item") for kind, r in rows.groupby("model_kind")}
        accuracy = {kind: float(r["score"].mean()) for kind, r in by_kind.items()}
        sds = {}
        for kind, r in by_kind.items():
            sd = stats.between_item_sd(r["n_correct"], r["n_samples"], deterministic=greedy)
            sds[kind] = sd
            p = accuracy[kind]
            if math.isfinite(sd) and 0 < p < 1:
                shares.append(min(1.0, sd**2 / (p * (1 - p))))
        base, final = by_kind.get("base"), by_kind.get("checkpoint")
        if base is not None and final is not None:
            shared = base.index.intersection(final.index)
            if len(shared) > 1 and all(math.isfinite(v) and v > 0 for v in sds.values()):
                cov = np.cov(base.loc[shared, "score"], final.loc[shared, "score"])[0, 1]
                correlations.append(float(np.clip(cov / (sds["base"] * sds["checkpoint"]), 0, 1)))
        per_benchmark[name] = {
            "items": int(rows["item"].nunique()),
            "completion_tokens": float(np.mean(lengths.get(name, [0]))),
            "base_accuracy": accuracy.get("base"),
            "final_accuracy": accuracy.get("checkpoint"),
        }
    return {
        "items_per_benchmark": items,
        "samples": job.generation.n,
        "generated_tokens": generated,
        "wall_s": wall,
        "generating_s": generating,
        "engine_start_s": engine_s,
        "throughput": throughput,
        "between_item_share": float(np.mean(shares)) if shares else float("nan"),
        "item_correlation": float(np.mean(correlations)) if correlations else float("nan"),
        "benchmarks": per_benchmark,
    }


def measured_config(config: dict, measured: dict) -> dict:
    """``config`` with the plan's figures replaced by the pilot's, where it measured them (item
    counts stay the configured ones: the pilot scores a few)."""
    out = copy.deepcopy(config)
    plan = out["plan"]
    for key in ("throughput", "engine_start_s", "between_item_share", "item_correlation"):
        value = measured[key]
        if value is not None and math.isfinite(value) and value > 0:
            plan[key] = value
    for name, figures in measured["benchmarks"].items():
        own = dict(plan["benchmarks"].get(name) or {})
        if "items" not in own and name in config["benchmarks"]:
            from rldynamics.runs.computeplan import benchmark_figures

            own["items"] = benchmark_figures(config)[name]["items"]
        for key in ("completion_tokens", "base_accuracy", "final_accuracy"):
            if figures[key] is not None and (key != "completion_tokens" or figures[key] > 0):
                own[key] = figures[key]
        own["source"] = f"pilot: {measured['items_per_benchmark']} items × {measured['samples']}"
        plan["benchmarks"][name] = own
    return out


def comparison_markdown(config: dict, measured: dict) -> str:
    """The pilot's figures beside the configured ones."""
    from rldynamics.runs.computeplan import benchmark_figures

    plan = config["plan"]
    configured = benchmark_figures(config)

    def fmt(value, pct=False):
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "?"
        if pct:
            return f"{100 * value:.1f} %"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"

    lines = ["| Figure | Configured | Measured by the pilot |", "|---|---:|---:|"]
    for key, label in (
        ("throughput", "generated tokens/s per device"),
        ("engine_start_s", "engine start (s)"),
        ("between_item_share", "between-item share of the variance"),
        ("item_correlation", "items' correlation, base vs final"),
    ):
        lines.append(f"| {label} | {fmt(plan[key])} | {fmt(measured[key])} |")
    for name, figures in measured["benchmarks"].items():
        mine = configured[name]
        lines.append(
            f"| {name}: tokens per completion | {fmt(mine['completion_tokens'])} "
            f"| {fmt(figures['completion_tokens'])} |"
        )
        for key in ("base_accuracy", "final_accuracy"):
            lines.append(
                f"| {name}: {key.replace('_', ' ')} | {fmt(mine[key], True)} "
                f"| {fmt(figures[key], True)} |"
            )
    return "\n".join(lines) + "\n"
