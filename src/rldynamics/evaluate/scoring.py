"""Benchmark scoring through lm-eval, several models per process, no model folder written.

A benchmark is an lm-eval task YAML kept in ``workflow/tasks/`` (prompt, answer form,
grading hooks); the pipeline only points it at its data and sets the sampling. A *scoring
job* (:class:`rldynamics.evaluate.job.ScoringJob`, read once from the JSON spec) loads lm-eval,
the tokenizer and the base model once, then scores a list of models:

- a model folder (base, RL checkpoint): its tensors are copied into the loaded model;
- a factor file (rank-k model, AlphaRL prediction): W0 + the rank-k update is formed in memory.

Neither backend writes a model to disk: ``hf`` copies each model's tensors into its live model,
``vllm`` (:mod:`rldynamics.evaluate.vllm_backend`) starts one engine per job and its workers
build each model's tensors and reload them in place.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
from pathlib import Path

import pandas as pd

from rldynamics.core.columns import RESULT_COLUMNS
from rldynamics.core.errors import InputError
from rldynamics.core.grading import GRADER_VERSION, pass_ks
from rldynamics.core.io import ModelWeights, atomic_path, write_csv
from rldynamics.evaluate.job import ModelEntry, ScoringJob

log = logging.getLogger(__name__)


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

    def load(self, model: ModelEntry) -> None:
        """Make the live model the one a scoring job's ``model`` entry describes."""
        self.reset()
        # Derived tensors are rounded once, to the live model's dtype (float32 keeps them).
        self._assign(model_tensors(model, self.base, self.model.dtype))


def model_tensors(model: ModelEntry, base: ModelWeights, dtype=None) -> dict:
    """The tensors in which a scoring job's model differs from the base (or all of them):
    its recipe (:func:`rldynamics.evaluate.recipes.recipe_from_spec`) made into tensors.

    ``model``: a job's model entry.
    ``dtype``: the torch dtype of the rank-k matrices (default the container's).
    """
    from rldynamics.evaluate.recipes import changed_tensors, recipe_from_spec

    return changed_tensors(recipe_from_spec(model, base.folder), base, dtype)


# --- scoring -----------------------------------------------------------------------------------

# What lm-eval's JSON keeps of each model's results.
RAW_KEYS = ("results", "n-samples", "configs", "versions", "higher_is_better")


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


def _task_configs(job: ScoringJob) -> list[dict]:
    """Each benchmark's task config, named after the benchmark, with the job's sampling."""
    generation = job.generation.to_json() if job.generation else None
    configs = []
    for bench in job.benchmarks:
        dataset = bench.dataset.to_json() if bench.dataset else None
        config = task_config(bench.task, bench.data, dataset, generation)
        config["task"] = bench.name
        configs.append(config)
    return configs


def score_models(
    job: ScoringJob,
    out_csv: str | Path,
    out_json: str | Path,
    out_items: str | Path | None = None,
    out_completions: str | Path | None = None,
) -> pd.DataFrame:
    """Score every model of ``job`` on every benchmark; write tidy rows, lm-eval's JSON, the
    per-item verdicts (``out_items``) and, where ``job.log_samples`` is on, the completions
    (``out_completions``, see ``rldynamics.evaluate.items``)."""
    from rldynamics.evaluate.items import CompletionWriter, completion_records, item_rows

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    configs = _task_configs(job)
    settings = evaluate_settings(job, configs)
    loader, lm = open_backend(job)
    reuse_lm_eval_model_independent_work()
    forms = {c["task"]: task_form(c) for c in configs}
    keep_completions = job.log_samples and out_completions is not None
    frames, raw, verdicts = [], {}, []
    # a partial completions file is removed, not kept
    with CompletionWriter(out_completions if keep_completions else None) as writer:
        for model in job.models:
            labels = job.labels(model)
            results = score_model(model, loader, lm, configs, settings)
            frames.append(tidy_rows(results, labels))
            log_rows(frames[-1])
            samples = results.get("samples") or {}
            verdicts += item_rows(samples, labels)
            writer.write(completion_records(samples, model.key, labels, forms))
            raw[model.key] = {k: results[k] for k in RAW_KEYS if k in results}
    return write_outputs(frames, raw, verdicts, out_csv, out_json, out_items)


def evaluate_settings(job: ScoringJob, configs: list[dict], task_manager=None) -> dict:
    """lm-eval's ``simple_evaluate`` arguments of the job, the same for every model: its items
    (the first ``limit``, or the seeded ``item_limit`` subset of them), prompts and seeds."""
    from lm_eval.tasks import TaskManager

    if task_manager is None:
        task_manager = TaskManager(include_defaults=False)
    items = (
        item_subsets(configs, task_manager, job.limit, job.item_limit, job.seed)
        if job.item_limit
        else None
    )
    return dict(
        task_manager=task_manager,
        # lm-eval takes a limit (the first items) or a list of items, not both
        limit=None if items else job.limit,
        samples=items,
        # Per-item verdicts come from the logged samples: always logged, stored on request.
        log_samples=True,
        apply_chat_template=job.chat_template,
        random_seed=job.seed,
        numpy_random_seed=job.seed,
        torch_random_seed=job.seed,
        fewshot_random_seed=job.seed,
    )


def open_backend(job: ScoringJob):
    """(loader, lm): what loads each model of the job and the lm-eval model that scores it
    (hf: a live transformers model; vllm: one engine for the whole job, each model reloaded
    in place, both in one object)."""
    if job.backend == "hf":
        from lm_eval.models.huggingface import HFLM

        trust = job.trust_remote_code
        loader = ModelLoader(job.base, job.device, job.dtype, trust)
        lm = HFLM(
            pretrained=loader.model,
            tokenizer=_load_tokenizer(job.tokenizer_folder, trust),
            batch_size=job.batch_size,
        )
        return loader, lm
    from rldynamics.evaluate.vllm_backend import VllmLM

    engine = VllmLM(job)
    return engine, engine


def reuse_lm_eval_model_independent_work() -> None:
    """Do once per process two things lm-eval redoes for every model of a job, both the same
    for all of them (measured on a toy model: 1.3 of its 2.1 s per model, mostly the first).

    - ``add_env_info`` puts torch's ``collect_env`` report into every model's results; it runs
      ``pip list`` and other programs (~0.85 s). It is collected for the first model and copied
      to the others (the environment does not change within a job; our outputs do not keep it).
    - ``apply_template`` compiles each prompt template (Jinja) anew for every item of every
      model (~0.4 s a model); compiled templates are kept, so each renders as it did.
    """
    import lm_eval.evaluator
    import lm_eval.utils

    if getattr(lm_eval.evaluator.add_env_info, "reused", False):
        return
    collect_environment = lm_eval.evaluator.add_env_info
    environment: dict = {}

    def add_env_info(storage: dict) -> None:
        if not environment:
            collect_environment(environment)
        storage.update(copy.deepcopy(environment))

    @functools.lru_cache(maxsize=256)
    def compiled(template: str):
        return lm_eval.utils.env.from_string(template)

    def apply_template(template: str, doc: dict) -> str:
        return compiled(template).render(**doc)

    add_env_info.reused = True
    lm_eval.evaluator.add_env_info = add_env_info
    lm_eval.utils.apply_template = apply_template


def score_model(model: ModelEntry, loader, lm, configs: list[dict], settings: dict) -> dict:
    """lm-eval's results of one model of the job (its samples logged)."""
    from lm_eval import simple_evaluate

    log.info("scoring %s", model.key)
    loader.load(model)
    results = simple_evaluate(model=lm, tasks=copy.deepcopy(configs), **settings)
    if results is None:
        raise RuntimeError(f"lm-eval returned no results for {model.key}")
    return results


def log_rows(frame: pd.DataFrame) -> None:
    for _, row in frame.iterrows():
        log.info("  %s %s = %.4f (n=%s)", row["benchmark"], row["metric"], row["value"], row["n"])


def write_outputs(frames, raw, verdicts, out_csv, out_json, out_items) -> pd.DataFrame:
    """The job's per-item verdicts, lm-eval's JSON and the tidy rows (returned)."""
    from lm_eval.utils import handle_non_serializable

    from rldynamics.evaluate.items import item_frame

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
