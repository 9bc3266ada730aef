"""Benchmark scoring through lm-eval: a task YAML kept in the repository, a local model folder.

The task YAML is read with lm-eval's own loader; the pipeline only points its dataset at the
run's data file, so a benchmark is data (a YAML and a JSONL), not code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from rldynamics.errors import InputError
from rldynamics.io import atomic_path, write_csv

# One tidy row per measurement; every table of results uses these columns.
RESULT_COLUMNS = [
    "run",
    "model_kind",
    "step",
    "k",
    "variant",
    "benchmark",
    "metric",
    "value",
    "n",
    "stderr",
]


def task_config(task_yaml: str | Path, data: str | Path | None) -> dict:
    """The task's config dict, with its test data file set to ``data`` when given."""
    from lm_eval.tasks._yaml_loader import load_yaml

    task_yaml = Path(task_yaml)
    if not task_yaml.exists():
        raise InputError(f"benchmark task file not found: {task_yaml}")
    config = load_yaml(task_yaml)
    if data is not None:
        data = Path(data)
        if not data.exists():
            raise InputError(f"benchmark data file not found: {data} (task {task_yaml})")
        split = config.get("test_split", "test")
        config.setdefault("dataset_kwargs", {})["data_files"] = {split: str(data.resolve())}
    return config


def run_lm_eval(
    model_dir: str | Path,
    task_yaml: str | Path,
    data: str | Path | None,
    tokenizer: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    limit: int | None = None,
    seed: int = 0,
) -> dict:
    """Score one model folder on one benchmark; returns lm-eval's results dict."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    config = task_config(task_yaml, data)
    results = simple_evaluate(
        model="hf",
        model_args={
            "pretrained": str(model_dir),
            "tokenizer": str(tokenizer or model_dir),
            "dtype": "float32",
        },
        tasks=[config],
        task_manager=TaskManager(include_defaults=False),
        batch_size=batch_size,
        device=device,
        limit=limit,
        log_samples=False,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    if results is None:
        raise RuntimeError("lm-eval returned no results")
    return results


def tidy_rows(results: dict, labels: dict) -> pd.DataFrame:
    """lm-eval's results as tidy rows: one per (benchmark, metric), with the model's labels."""
    rows = []
    for task, metrics in results["results"].items():
        n = results.get("n-samples", {}).get(task, {}).get("effective")
        # Only the task's declared metrics (lm-eval also reports e.g. sample_len).
        declared = set(results.get("higher_is_better", {}).get(task, {}))
        for key, value in metrics.items():
            name, _, _filter = key.partition(",")
            if name not in declared or not isinstance(value, int | float):
                continue
            stderr = metrics.get(f"{name}_stderr,{_filter}")
            rows.append(
                {
                    **labels,
                    "benchmark": task,
                    "metric": name,
                    "value": float(value),
                    "n": n,
                    "stderr": float(stderr) if isinstance(stderr, int | float) else None,
                }
            )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def evaluate(
    model_dir: str | Path,
    task_yaml: str | Path,
    data: str | Path | None,
    out_json: str | Path,
    out_csv: str | Path,
    labels: dict,
    tokenizer: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    limit: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Score a model, keep lm-eval's JSON, and write the tidy rows."""
    from lm_eval.utils import handle_non_serializable

    results = run_lm_eval(model_dir, task_yaml, data, tokenizer, batch_size, device, limit, seed)
    keep = {
        k: results[k]
        for k in ("results", "n-samples", "configs", "versions", "higher_is_better")
        if k in results
    }
    keep["model_dir"] = str(model_dir)
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(keep, indent=2, default=handle_non_serializable))
    frame = tidy_rows(results, labels)
    write_csv(out_csv, frame)
    return frame
