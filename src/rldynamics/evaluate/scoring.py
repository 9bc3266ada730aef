"""Benchmark scoring through lm-eval, several models per process, no model folder written.

A benchmark is an lm-eval task YAML kept in ``workflow/tasks/`` (prompt, answer form,
grading hooks); the pipeline only points it at its data and sets the sampling. A *scoring
job* loads lm-eval, the tokenizer and the base model once, then scores a list of models:

- a model folder (base, RL checkpoint): its tensors are copied into the loaded model;
- a factor file (rank-k model, AlphaRL prediction): W0 + the rank-k update is formed in memory.

Neither backend writes a model to disk: ``hf`` copies each model's tensors into its live model,
``vllm`` (:mod:`rldynamics.evaluate.vllm_backend`) starts one engine per job and its workers build each
model's tensors and reload them in place.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path

import pandas as pd

from rldynamics.core.columns import LABELS, RESULT_COLUMNS  # noqa: F401 (RESULT_COLUMNS re-exported)
from rldynamics.core.errors import InputError
from rldynamics.core.grading import GRADER_VERSION, pass_ks
from rldynamics.core.io import ModelWeights, atomic_path, write_csv

log = logging.getLogger(__name__)

BACKENDS = ("hf", "vllm")


# --- task configs ----------------------------------------------------------------------------


def task_config(
    task_yaml: str | Path,
    data: str | Path | None = None,
    dataset: dict | None = None,
    generation: dict | None = None,
) -> dict:
    """The task's config dict with its data source and sampling set from the run's config.

    ``data``: a local JSON/JSONL file for the test split. ``dataset``: an HF dataset
    {path, name, revision, split}. ``generation``: {temperature, top_p, n, max_new_tokens}.
    """
    from lm_eval.tasks._yaml_loader import load_yaml

    task_yaml = Path(task_yaml)
    if not task_yaml.exists():
        raise InputError(f"benchmark task file not found: {task_yaml}")
    config = load_yaml(task_yaml)
    if data is not None:
        data = Path(data)
        if not data.exists():
            raise InputError(f"benchmark data file not found: {data} (task {task_yaml})")
        check_data_file(data, task_form(config))
        config["dataset_path"] = "json"
        config.pop("dataset_name", None)
        split = config.get("test_split", "test")
        config["dataset_kwargs"] = {"data_files": {split: str(data.resolve())}}
    elif dataset:
        config["dataset_path"] = dataset["path"]
        if dataset.get("name"):
            config["dataset_name"] = dataset["name"]
        config["dataset_kwargs"] = {"revision": dataset["revision"]}
        if dataset.get("split"):
            config["test_split"] = dataset["split"]
    # Without settings from the run, the YAML's own sampling is kept, made explicit so that
    # the declared metrics always match what the grading hook reports.
    apply_generation(config, generation or yaml_generation(config))
    return config


def yaml_generation(config: dict) -> dict:
    """The sampling settings a task YAML states (greedy and one sample unless it says more)."""
    kwargs = config.get("generation_kwargs") or {}
    sampled = kwargs.get("do_sample", False)
    return {
        "n": int(config.get("repeats", 1)),
        "temperature": float(kwargs.get("temperature", 1.0)) if sampled else 0.0,
        "top_p": float(kwargs.get("top_p", 1.0)),
        "max_new_tokens": int(kwargs.get("max_gen_toks", 256)),
    }


def task_form(config: dict) -> str:
    """The answer form a task's rows are read in, from its ``process_docs`` hook
    (``utils.docs_boxed`` → boxed, …); a task without one reads ``{question, answer}`` as is."""
    hook = getattr(config.get("process_docs"), "__name__", "")
    return hook.removeprefix("docs_") if hook.startswith("docs_") else "plain"


def check_data_file(path: Path, form: str = "plain") -> None:
    """Every line of a local benchmark file is a row that makes an item of ``form``."""
    from rldynamics.core.io import read_jsonl
    from rldynamics.evaluate.benchmark_docs import row_problem

    for lineno, item in read_jsonl(path):
        if form == "plain":  # the YAML reads {{question}} and {{answer}} directly
            missing = [key for key in ("question", "answer") if key not in item]
            problem = f"lacks the field(s) {missing}" if missing else None
        else:
            problem = row_problem(item, form)
        if problem:
            raise InputError(f"{path}:{lineno}: the item {problem}; it has {sorted(item)}")


def apply_generation(config: dict, generation: dict) -> None:
    """Sampling settings: n samples per item (``repeats``), temperature, top_p, max tokens."""
    n = int(generation["n"])
    temperature = float(generation["temperature"])
    kwargs = dict(config.get("generation_kwargs") or {})
    kwargs["do_sample"] = temperature > 0
    if temperature > 0:
        kwargs["temperature"] = temperature
        kwargs["top_p"] = float(generation.get("top_p", 1.0))
    else:
        kwargs.pop("temperature", None)
        kwargs.pop("top_p", None)
    kwargs["max_gen_toks"] = int(generation["max_new_tokens"])
    config["generation_kwargs"] = kwargs
    config["repeats"] = n
    config["filter_list"] = [{"name": "samples", "filter": [{"function": "take_first_k", "k": n}]}]
    metrics = ["acc"] + [f"pass@{k}" for k in pass_ks(n)]
    config["metric_list"] = [
        {"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics
    ]


# --- models ------------------------------------------------------------------------------------


def warn_remote_code(folder, trust_remote_code: bool) -> None:
    if trust_remote_code:
        log.warning(
            "trust_remote_code is ON for %s (config base.trust_remote_code): code shipped with "
            "the model will run",
            folder,
        )


class ModelLoader:
    """One live model whose weights are swapped in place for each model of a scoring job."""

    def __init__(
        self,
        base_dir: str | Path,
        device: str = "cpu",
        dtype: str = "auto",
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoModelForCausalLM

        self.base_dir = Path(base_dir)
        self.base = ModelWeights(base_dir)
        warn_remote_code(base_dir, trust_remote_code)
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(
            str(base_dir), dtype=torch_dtype, trust_remote_code=trust_remote_code
        ).to(device)
        self.model.eval()
        self.params = dict(self.model.named_parameters())
        self._changed: set[str] = set()

    def _assign(self, tensors: dict) -> None:
        import torch

        with torch.no_grad():
            for name, value in tensors.items():
                if name not in self.params:
                    if name == "lm_head.weight" and self.model.config.tie_word_embeddings:
                        continue  # tied to the embeddings, already assigned
                    raise InputError(f"tensor {name!r} is not a parameter of {self.base_dir}")
                target = self.params[name]
                if tuple(target.shape) != tuple(value.shape):
                    raise InputError(
                        f"tensor {name!r}: shape {tuple(value.shape)}, model has "
                        f"{tuple(target.shape)}"
                    )
                target.copy_(value.to(target.dtype))
                self._changed.add(name)

    def reset(self) -> None:
        """Back to the base weights (only the tensors a previous model changed)."""
        self._assign({name: self.base.get(name) for name in sorted(self._changed)})
        self._changed.clear()

    def load(self, spec: dict) -> None:
        """Make the live model the one ``spec`` describes."""
        self.reset()
        # Derived tensors are rounded once, to the live model's dtype (float32 keeps them).
        self._assign(model_tensors(spec, self.base, self.model.dtype))


def model_tensors(spec: dict, base: ModelWeights, dtype=None) -> dict:
    """The tensors in which a scoring spec's model differs from the base (or all of them):
    its recipe (:func:`rldynamics.evaluate.recipes.recipe_from_spec`) made into tensors.

    ``dtype``: the torch dtype of the rank-k matrices (default the container's).
    """
    from rldynamics.evaluate.recipes import changed_tensors, recipe_from_spec

    return changed_tensors(recipe_from_spec(spec, base.folder), base, dtype)


# --- scoring -----------------------------------------------------------------------------------


def tidy_rows(results: dict, labels: dict) -> pd.DataFrame:
    """lm-eval's results as tidy rows: one per (benchmark, metric), with the model's labels."""
    rows = []
    for task, metrics in results["results"].items():
        n = results.get("n-samples", {}).get(task, {}).get("effective")
        # Only the task's declared metrics (lm-eval also reports e.g. sample_len).
        declared = set(results.get("higher_is_better", {}).get(task, {}))
        for key, value in metrics.items():
            name, _, filter_name = key.partition(",")
            if name not in declared or not isinstance(value, int | float):
                continue
            stderr = metrics.get(f"{name}_stderr,{filter_name}")
            rows.append(
                {
                    **labels,
                    "benchmark": task,
                    "metric": name,
                    "value": float(value),
                    "n": n,
                    "stderr": float(stderr) if isinstance(stderr, int | float) else None,
                    "grader": GRADER_VERSION,
                }
            )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _task_configs(spec: dict) -> list[dict]:
    configs = []
    for bench in spec["benchmarks"]:
        config = task_config(
            bench["task"], bench.get("data"), bench.get("dataset"), spec.get("generation")
        )
        config["task"] = bench["name"]
        configs.append(config)
    return configs


def score_models(
    spec: dict,
    out_csv: str | Path,
    out_json: str | Path,
    out_items: str | Path | None = None,
    out_completions: str | Path | None = None,
) -> pd.DataFrame:
    """Score every model of ``spec`` on every benchmark; write tidy rows, lm-eval's JSON, the
    per-item verdicts (``out_items``) and, where ``spec.log_samples`` is on, the completions
    (``out_completions``, see ``rldynamics.evaluate.items``)."""
    from rldynamics.evaluate.items import (
        CompletionWriter,
        completion_records,
        item_frame,
        item_rows,
    )

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    backend = spec.get("backend", "hf")
    if backend not in BACKENDS:
        raise InputError(f"evaluate.backend must be one of {BACKENDS}, got {backend!r}")
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import handle_non_serializable

    configs = _task_configs(spec)
    seed = int(spec.get("seed", 0))
    task_manager = TaskManager(include_defaults=False)
    items = (
        item_subsets(configs, task_manager, spec.get("limit"), spec["item_limit"], seed)
        if spec.get("item_limit")
        else None
    )
    common = dict(
        task_manager=task_manager,
        # lm-eval takes a limit (the first items) or a list of items, not both
        limit=None if items else spec.get("limit"),
        samples=items,
        # Per-item verdicts come from the logged samples: always logged, stored on request.
        log_samples=True,
        apply_chat_template=bool(spec.get("chat_template", False)),
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    loader = lm = None
    if backend == "hf":
        from lm_eval.models.huggingface import HFLM

        trust = bool(spec.get("trust_remote_code", False))
        loader = ModelLoader(
            spec["base"], spec.get("device", "cpu"), spec.get("dtype", "auto"), trust
        )
        tokenizer = spec.get("tokenizer") or spec["base"]
        lm = HFLM(
            pretrained=loader.model,
            tokenizer=_load_tokenizer(tokenizer, trust),
            batch_size=spec.get("batch_size", 64),
        )
    else:  # one engine for the whole job, each model reloaded in place
        from rldynamics.evaluate.vllm_backend import VllmLM

        loader = lm = VllmLM(spec)
    keep_completions = bool(spec.get("log_samples", False)) and out_completions is not None
    forms = {c["task"]: task_form(c) for c in configs}
    frames, raw, verdicts = [], {}, []
    writer = CompletionWriter(out_completions if keep_completions else None).__enter__()
    try:
        for model in spec["models"]:
            labels = {k: model.get(k) for k in LABELS}
            labels["run"] = spec.get("run")
            log.info("scoring %s", model["key"])
            loader.load(model)
            results = simple_evaluate(model=lm, tasks=copy.deepcopy(configs), **common)
            if results is None:
                raise RuntimeError(f"lm-eval returned no results for {model['key']}")
            frame = tidy_rows(results, labels)
            for _, row in frame.iterrows():
                log.info(
                    "  %s %s = %.4f (n=%s)", row["benchmark"], row["metric"], row["value"], row["n"]
                )
            frames.append(frame)
            samples = results.get("samples") or {}
            verdicts += item_rows(samples, labels)
            writer.write(completion_records(samples, model["key"], labels, forms))
            keep = ("results", "n-samples", "configs", "versions", "higher_is_better")
            raw[model["key"]] = {k: results[k] for k in keep if k in results}
    except BaseException as err:  # the partial completions file is removed, not kept
        writer.__exit__(type(err), err, err.__traceback__)
        raise
    writer.__exit__(None, None, None)
    if out_items is not None:
        write_csv(out_items, item_frame(verdicts))
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(raw, indent=1, default=handle_non_serializable))
    table = pd.concat(frames, ignore_index=True)
    write_csv(out_csv, table)
    return table


def item_subsets(configs, task_manager, limit, item_limit, seed) -> dict[str, list[int]]:
    """{task: items} of a budget's item limit: the seeded subset of each benchmark's items
    (among its first ``limit`` where a limit is set), the same for every model and job."""
    from lm_eval.tasks import get_task_dict

    from rldynamics.evaluate.runmodels import seeded_items

    tasks = get_task_dict(copy.deepcopy(configs), task_manager)
    subsets = {}
    for name, task in tasks.items():
        n_items = len(task.eval_docs)
        if limit:
            n_items = min(n_items, int(limit))
        subsets[str(name)] = seeded_items(n_items, int(item_limit), seed)
    return subsets


def _load_tokenizer(folder, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
