import json
from dataclasses import replace

import pandas as pd
import pytest
import torch

from rldynamics.core.errors import InputError
from rldynamics.evaluate.job import ModelEntry, ScoringJob
from rldynamics.evaluate.scoring import ModelLoader, task_config
from tests.conftest import REPO

TASKS = REPO / "workflow/tasks"


def test_run_settings_set_samples_filter_and_metrics(tmp_path):
    data = tmp_path / "test.jsonl"
    data.write_text('{"problem": "1+1?", "answer": "2"}\n')
    gen = {"temperature": 0.6, "top_p": 0.95, "n": 4, "max_new_tokens": 100}
    config = task_config(TASKS / "math500.yaml", data=data, generation=gen)
    assert config["dataset_path"] == "json"
    assert config["dataset_kwargs"]["data_files"]["test"] == str(data.resolve())
    assert config["repeats"] == 4
    assert config["filter_list"][0]["filter"][0] == {"function": "take_first_k", "k": 4}
    assert config["generation_kwargs"]["temperature"] == 0.6
    assert config["generation_kwargs"]["max_gen_toks"] == 100
    assert [m["metric"] for m in config["metric_list"]] == ["acc", "pass@1", "pass@2", "pass@4"]
    assert callable(config["process_results"])


def test_hf_dataset_source_and_yaml_defaults():
    dataset = {"path": "openai/gsm8k", "name": "main", "revision": "abc123", "split": "test"}
    config = task_config(TASKS / "gsm8k.yaml", dataset=dataset)
    assert config["dataset_path"] == "openai/gsm8k" and config["dataset_kwargs"] == {
        "revision": "abc123"
    }
    # The YAML's own sampling (the paper's): 32 samples at T = 0.6.
    assert config["repeats"] == 32 and config["generation_kwargs"]["temperature"] == 0.6
    greedy = task_config(TASKS / "toy_arithmetic.yaml")
    assert greedy["generation_kwargs"]["do_sample"] is False and greedy["repeats"] == 1


def test_missing_task_or_data_is_named(tmp_path):
    with pytest.raises(InputError, match="nope.yaml"):
        task_config(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="missing.jsonl"):
        task_config(TASKS / "toy_arithmetic.yaml", data=tmp_path / "missing.jsonl")


@pytest.fixture
def toy_base(tmp_path):
    from rldynamics.toy.config import ArchConfig
    from rldynamics.toy.model import new_model
    from rldynamics.toy.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    model = new_model(ArchConfig(hidden_size=16, intermediate_size=32, num_layers=1), tokenizer, 0)
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    gen = torch.Generator().manual_seed(1)
    rl = {
        n: p.detach() + 0.05 * torch.randn(p.shape, generator=gen)
        for n, p in model.named_parameters()
    }
    from tests.conftest import write_model

    write_model(tmp_path / "rl", rl)
    return tmp_path / "base", tmp_path / "rl", rl


def test_in_memory_model_matches_the_built_folder_and_resets(toy_base, tmp_path):
    from rldynamics.core.io import ModelWeights
    from rldynamics.decompose.factors import decompose
    from rldynamics.evaluate.build import build_model

    base_dir, rl_dir, rl = toy_base
    decompose(base_dir, rl_dir, 2, tmp_path / "f.safetensors", progress=False)
    build_model(base_dir, tmp_path / "f.safetensors", 1, tmp_path / "built", progress=False)
    loader = ModelLoader(base_dir)
    loader.load(ModelEntry("rank-1", factors=str(tmp_path / "f.safetensors"), rank="1"))
    built = ModelWeights(tmp_path / "built")
    for name, param in loader.model.named_parameters():
        assert torch.allclose(param, built.get(name), atol=1e-6), name
    loader.load(ModelEntry("rl", folder=str(rl_dir)))
    for name, param in loader.model.named_parameters():
        assert torch.allclose(param, rl[name]), name
    loader.load(ModelEntry("base", folder=str(base_dir)))
    base = ModelWeights(base_dir)
    for name, param in loader.model.named_parameters():
        assert torch.equal(param, base.get(name)), name


def test_remote_code_is_off_unless_opted_in_and_an_opt_in_is_printed(toy_base, caplog):
    import logging

    base_dir, _, _ = toy_base
    with caplog.at_level(logging.WARNING, logger="rldynamics.evaluate.scoring"):
        ModelLoader(base_dir)
    assert "trust_remote_code" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="rldynamics.evaluate.scoring"):
        ModelLoader(base_dir, trust_remote_code=True)
    assert "trust_remote_code is ON" in caplog.text and str(base_dir) in caplog.text


def test_in_memory_rest_rl_takes_one_dimensional_tensors_from_the_checkpoint(toy_base, tmp_path):
    from rldynamics.core.io import ModelWeights
    from rldynamics.decompose.factors import decompose
    from rldynamics.evaluate.scoring import model_tensors

    base_dir, rl_dir, rl = toy_base
    decompose(base_dir, rl_dir, 2, tmp_path / "f.safetensors", progress=False)
    base = ModelWeights(base_dir)
    plain = ModelEntry("rank-1", factors=str(tmp_path / "f.safetensors"), rank="1")
    with_rest = replace(plain, rest="rl", rest_from=str(rl_dir))
    plain, with_rest = model_tensors(plain, base), model_tensors(with_rest, base)
    one_d = [n for n in base.names() if base.get(n).ndim == 1]
    assert one_d and all(torch.equal(with_rest[n], rl[n]) for n in one_d)
    assert not any(n in plain for n in one_d)
    assert "model.embed_tokens.weight" not in with_rest  # 2-D, not decomposed: base value


def test_paper_tasks_read_public_row_forms_through_lm_eval(toy_base, tmp_path):
    """GPQA's columns and a Minerva copy's problem/solution rows, scored by lm-eval itself."""
    from rldynamics.core.grading import GRADER_VERSION
    from rldynamics.evaluate.scoring import score_models

    base_dir, _, _ = toy_base
    gpqa = {
        "Question": "Which is twelve? [title]Numbers",
        "Correct Answer": "12",
        "Incorrect Answer 1": "13",
        "Incorrect Answer 2": "14",
        "Incorrect Answer 3": "15 [1]",
        "Subdomain": "extra columns are ignored",
    }
    (tmp_path / "gpqa.jsonl").write_text(json.dumps(gpqa) + "\n")
    minerva = {"idx": 0, "problem": "1+1?", "solution": "so \\boxed{2}.", "type": "x"}
    (tmp_path / "minerva.jsonl").write_text(json.dumps(minerva) + "\n")
    spec = {
        "base": str(base_dir),
        "models": [{"key": "base", "model_kind": "base", "folder": str(base_dir)}],
        "benchmarks": [
            {"name": n, "task": str(TASKS / f"{n}.yaml"), "data": str(tmp_path / f"{f}.jsonl")}
            for n, f in (("gpqa_diamond", "gpqa"), ("minerva_math", "minerva"))
        ],
        "generation": {"n": 2, "temperature": 0.6, "top_p": 1.0, "max_new_tokens": 4},
        "log_samples": True,
    }
    table = score_models(
        ScoringJob.from_spec(spec, "test"),
        tmp_path / "o.csv",
        tmp_path / "o.json",
        tmp_path / "o.items.csv",
        tmp_path / "o.gz",
    )
    assert set(table["grader"]) == {GRADER_VERSION}
    assert set(table["benchmark"]) == {"gpqa_diamond", "minerva_math"}
    from rldynamics.evaluate.items import read_completions

    records = {r["benchmark"]: r for r in read_completions(tmp_path / "o.gz")}
    gpqa_item = records["gpqa_diamond"]
    assert gpqa_item["choices"]["ABCD".index(gpqa_item["answer"])] == "12"
    assert "15" in gpqa_item["choices"] and "[title]" not in gpqa_item["question"]
    assert gpqa_item["form"] == "choice" and len(gpqa_item["completions"]) == 2
    prompt = gpqa_item["prompt"]
    assert all(f"({'ABCD'[i]}) {c}" in prompt for i, c in enumerate(gpqa_item["choices"]))
    assert prompt.endswith("put the letter of your final choice (A, B, C or D) within \\boxed{}")
    assert (records["minerva_math"]["question"], records["minerva_math"]["answer"]) == ("1+1?", "2")
    verdicts = pd.read_csv(tmp_path / "o.items.csv")
    assert set(verdicts["n_samples"]) == {2} and len(verdicts) == 2


def test_a_float32_scoring_job_keeps_the_official_code_model_in_float32(toy_base, tmp_path):
    """official-code (as released) adds ΔŴ to the window-end checkpoint and keeps float32; the
    base's dtype (bf16 here) would round the sum once more."""
    from transformers import AutoModelForCausalLM

    from rldynamics.core.io import ModelWeights, load_factors
    from rldynamics.decompose.factors import decompose
    from rldynamics.evaluate.recipes import rank_k_update
    from tests.conftest import write_model

    base_dir, rl_dir, rl = toy_base
    AutoModelForCausalLM.from_pretrained(base_dir).to(torch.bfloat16).save_pretrained(
        tmp_path / "base16"
    )
    rl16 = write_model(tmp_path / "rl16", {n: t.to(torch.bfloat16) for n, t in rl.items()})
    decompose(base_dir, rl_dir, 1, tmp_path / "f.safetensors", progress=False)
    spec = {"folder": str(rl16), "factors": str(tmp_path / "f.safetensors"), "rank": "1"}
    spec.update(scale="none", lam=1.0)
    model = ModelEntry.from_spec({"key": "official-code", **spec}, "test")
    factors, _ = load_factors(tmp_path / "f.safetensors")
    window_end = ModelWeights(rl16)
    kept, rounded = (
        ModelLoader(tmp_path / "base16", dtype="float32"),
        ModelLoader(tmp_path / "base16"),
    )
    kept.load(model)
    rounded.load(model)
    kept_params, rounded_params = (
        dict(kept.model.named_parameters()),
        dict(rounded.model.named_parameters()),
    )
    for name, parts in factors.items():
        expected = window_end.get(name).float() + rank_k_update(parts, 1, "none")
        assert kept_params[name].dtype == torch.float32
        assert torch.equal(kept_params[name], expected), name
        assert rounded_params[name].dtype == torch.bfloat16
        assert torch.equal(rounded_params[name], expected.bfloat16()), name
    assert any(not torch.equal(kept_params[n], rounded_params[n].float()) for n in factors)


# --- the scoring job: read and checked once -------------------------------------------------


def pipeline_spec() -> dict:
    """A spec as workflow/rules/common.smk's scoring_spec writes it (json.dumps, sort_keys)."""
    labels = dict(model_kind="base", step=0, k=None, lam=None, variant=None)
    spec = {
        "run": "toy",
        "base": "results/toy/models/base",
        "benchmarks": [
            {"name": "toy", "task": "workflow/tasks/toy.yaml", "data": "d.jsonl", "dataset": None},
            {
                "name": "gsm8k",
                "task": "workflow/tasks/gsm8k.yaml",
                "data": None,
                "dataset": {"path": "openai/gsm8k", "name": "main", "revision": "abc"},
            },
        ],
        "models": [
            {**labels, "key": "base", "folder": "results/toy/models/base"},
            {
                **labels,
                **dict(key="rank-1/step-40", model_kind="rank-k", step=40, k="1", lam=0.5),
                **dict(variant="frobenius", factors="f/step-40.safetensors", rank="1"),
                **dict(scale="frobenius", rest="rl", rest_from="results/toy/checkpoints/step-40"),
            },
            {
                **labels,
                **dict(key="alpharl-official-code/window-a", model_kind="alpharl", step=40),
                **dict(k="1", lam=1.0, variant="official-code", factors="p.safetensors"),
                **dict(rank=1, scale="none", folder="results/toy/checkpoints/step-40"),
            },
            {
                **labels,
                **dict(key="baseline/window-a", model_kind="baseline", step=40),
                "variant": "whole-weight",
                "extrapolate": {"from": "c/step-10", "to": "c/step-40", "alpha": 2},
            },
        ],
        "backend": "vllm",
        "generation": {"temperature": 0.6, "top_p": 0.95, "n": 4, "max_new_tokens": 8},
        "chat_template": False,
        "log_samples": True,
        "batch_size": 64,
        "device": "cpu",
        "gpus": 0,
        "trust_remote_code": False,
        "limit": None,
        "seed": 3,
        "vllm": {"memory_share": 0.9, "kv_cache_gib": None, "max_model_len": None},
        "item_limit": 10,
    }
    return json.loads(json.dumps(spec, sort_keys=True))


def test_a_pipeline_spec_reads_into_a_typed_job():
    from rldynamics.evaluate.job import Benchmark, Dataset, Extrapolate, Generation

    job = ScoringJob.from_spec(pipeline_spec(), "spec.json")
    assert job.benchmarks[1] == Benchmark(
        "gsm8k", "workflow/tasks/gsm8k.yaml", None, Dataset("openai/gsm8k", "abc", "main")
    )
    assert job.generation == Generation(n=4, temperature=0.6, max_new_tokens=8, top_p=0.95)
    base, rank1, official, baseline = job.models
    assert base.folder == "results/toy/models/base" and base.factors is None
    assert (rank1.rank, rank1.lam, rank1.rest) == ("1", 0.5, "rl")
    assert rank1.rest_from == "results/toy/checkpoints/step-40"
    assert official.rank == "1" and official.folder and official.scale == "none"
    assert baseline.extrapolate == Extrapolate("c/step-10", "c/step-40", 2.0)
    assert (job.backend, job.item_limit, job.seed, job.gpus) == ("vllm", 10, 3, 0)
    assert job.vllm.memory_share == 0.9 and job.vllm.kv_cache_gib is None
    # the labels of the tables, the run's first, as given (k stays a string, lam a number)
    assert job.labels(rank1) == dict(
        run="toy", model_kind="rank-k", step=40, k="1", lam=0.5, variant="frobenius"
    )
    assert list(job.labels(base)) == ["run", "model_kind", "step", "k", "lam", "variant"]


def test_a_spec_of_the_three_keys_gets_the_defaults_the_code_always_filled():
    spec = {"base": "b", "benchmarks": [], "models": [{"key": "m", "folder": "m"}]}
    job = ScoringJob.from_spec(spec, "spec.json")
    assert (job.run, job.backend, job.generation) == (None, "hf", None)
    assert (job.chat_template, job.log_samples, job.trust_remote_code) == (False, False, False)
    assert (job.batch_size, job.device, job.dtype, job.gpus, job.seed) == (64, "cpu", "auto", 1, 0)
    assert (job.limit, job.item_limit, job.tokenizer, job.tokenizer_folder) == (
        None,
        None,
        None,
        "b",
    )
    model = job.models[0]
    assert (model.scale, model.rest, model.lam, model.model_kind) == (
        "frobenius",
        "base",
        None,
        None,
    )
    # null reads as not given; an empty generation is the task YAML's sampling, as before
    nulls = {**spec, "seed": None, "backend": None, "generation": {}, "vllm": None}
    assert ScoringJob.from_spec(nulls, "spec.json") == job


def test_a_job_goes_back_to_json_and_reads_back_to_itself():
    job = ScoringJob.from_spec(pipeline_spec(), "spec.json")
    data = job.to_json()
    assert json.loads(json.dumps(data)) == data  # plain JSON, for a subprocess or a log
    assert ScoringJob.from_spec(data, "to_json") == job
    # every key the pipeline wrote comes back with its value (the rest: defaults stated)
    spec = pipeline_spec()
    for key, value in spec.items():
        if key not in ("benchmarks", "models", "vllm"):
            assert data[key] == value, key
    assert data["vllm"] == {"memory_share": 0.9}
    assert data["dtype"] == "auto" and data["tokenizer"] is None
    assert data["benchmarks"][1]["dataset"] == {**spec["benchmarks"][1]["dataset"], "split": None}
    for given, back in zip(spec["models"], data["models"], strict=True):
        # a rank is read as a string ("1", "full", "10%")
        expected = {**given, **({"rank": str(given["rank"])} if "rank" in given else {})}
        assert {k: back[k] for k in given} == expected
    assert data["models"][0] == {**spec["models"][0]}  # a folder: nothing stated beyond it
    assert data["models"][2]["rank"] == "1" and data["models"][2]["rest"] == "base"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("base"), r"spec.json: scoring spec lacks \['base'\]"),
        (lambda s: s["models"][1].pop("key"), r"spec.json: models\[1\]: lacks \['key'\]"),
        (lambda s: s["benchmarks"][0].pop("task"), r"benchmarks\[0\]: lacks \['task'\]"),
        (lambda s: s["generation"].pop("n"), r"spec.json: generation: lacks \['n'\]"),
        (
            lambda s: s["benchmarks"][1]["dataset"].pop("revision"),
            r"benchmarks\[1\].dataset: lacks \['revision'\]",
        ),
        (lambda s: s.update(seed="3"), "spec.json: 'seed' must be an integer, got '3'"),
        (lambda s: s.update(models={}), "'models' must be a list"),
        (lambda s: s.update(chat_template="yes"), "'chat_template' must be true or false"),
        (lambda s: s["models"][0].update(step="0"), "model 'base': 'step' must be an integer"),
        (lambda s: s["models"][0].update(folder=3), "model 'base': 'folder' must be a string"),
        (lambda s: s.update(backend="magic"), "evaluate.backend must be one of .* 'magic'"),
        (lambda s: s["vllm"].update(memory=1), r"evaluate.vllm: unknown key\(s\) \['memory'\]"),
        (lambda s: s["models"][1].pop("rank"), "model 'rank-1/step-40': 'factors' given without"),
        (
            lambda s: s["models"][3]["extrapolate"].pop("alpha"),
            r"model 'baseline/window-a': 'extrapolate' lacks \['alpha'\]",
        ),
        (lambda s: s["models"][0].pop("folder"), "model 'base': gives none of 'folder'"),
    ],
)
def test_a_bad_spec_is_refused_naming_its_source_and_the_key(change, message):
    spec = pipeline_spec()
    change(spec)
    with pytest.raises(InputError, match=message) as err:
        ScoringJob.from_spec(spec, "spec.json")
    assert str(err.value).startswith("spec.json: ")


def test_the_command_line_builds_the_job_once_from_a_spec_file_or_a_model_and_a_task(tmp_path):
    from argparse import Namespace

    from rldynamics.evaluate.cli import scoring_job

    path = tmp_path / "spec.json"
    path.write_text(json.dumps(pipeline_spec()))
    args = Namespace(spec=str(path))
    assert scoring_job(args) == ScoringJob.from_spec(pipeline_spec(), "spec.json")
    path.write_text(json.dumps({"base": "b", "benchmarks": []}))
    with pytest.raises(InputError, match=f"--spec {path}: scoring spec lacks"):
        scoring_job(args)
    args = Namespace(spec=None, model="m", task="t/toy.yaml", data=None, base=None, run="r")
    args.__dict__.update(kind="checkpoint", batch_size=8, device="cpu", limit=None, seed=1)
    job = scoring_job(args)
    assert job.base == "m" and job.benchmarks[0].name == "toy" and job.generation is None
    assert job.models[0] == ModelEntry("m", model_kind="checkpoint", folder="m")
    assert (job.run, job.batch_size, job.seed) == ("r", 8, 1)


def test_the_items_of_a_job_are_its_limit_or_its_seeded_subset(tmp_path):
    from rldynamics.evaluate.runmodels import seeded_items
    from rldynamics.evaluate.scoring import _task_configs, evaluate_settings

    data = tmp_path / "test.jsonl"
    data.write_text("".join(f'{{"question": "{i}+1=", "answer": "{i + 1}"}}\n' for i in range(12)))
    spec = {
        "base": "b",
        "benchmarks": [
            {"name": "arith", "task": str(TASKS / "toy_arithmetic.yaml"), "data": str(data)}
        ],
        "models": [],
        "limit": 8,
        "seed": 7,
        "chat_template": True,
    }
    job = ScoringJob.from_spec(spec, "spec.json")
    configs = _task_configs(job)
    assert [c["task"] for c in configs] == ["arith"] and configs[0]["repeats"] == 1
    settings = evaluate_settings(job, configs)
    assert (settings["limit"], settings["samples"]) == (8, None)
    assert settings["apply_chat_template"] is True and settings["log_samples"] is True
    assert {settings[f"{s}_seed"] for s in ("random", "numpy_random", "torch_random")} == {7}
    subset = evaluate_settings(replace(job, item_limit=5), configs, settings["task_manager"])
    # lm-eval takes a limit or a list of items, not both: the subset is drawn among the limit's
    assert subset["limit"] is None and subset["samples"] == {"arith": seeded_items(8, 5, 7)}


def test_lm_eval_work_that_no_model_changes_is_done_once_per_process(monkeypatch):
    """The environment report is collected for the first model and copied to the others;
    compiled prompt templates render exactly as lm-eval's own apply_template does."""
    import lm_eval.evaluator
    import lm_eval.utils

    from rldynamics.evaluate.scoring import reuse_lm_eval_model_independent_work

    calls = []

    def collect(storage):
        calls.append(1)
        storage["pretty_env_info"] = {"report": len(calls)}

    original_template = lm_eval.utils.apply_template
    monkeypatch.setattr(lm_eval.evaluator, "add_env_info", collect)
    monkeypatch.setattr(lm_eval.utils, "apply_template", original_template)
    reuse_lm_eval_model_independent_work()
    reuse_lm_eval_model_independent_work()  # a second call wraps nothing twice
    first, second = {}, {}
    lm_eval.evaluator.add_env_info(first)
    lm_eval.evaluator.add_env_info(second)
    assert len(calls) == 1 and first == second == {"pretty_env_info": {"report": 1}}
    second["pretty_env_info"]["report"] = 2  # each model's results get their own copy
    assert first["pretty_env_info"]["report"] == 1

    doc = {"question": "57+68=", "answer": "125"}
    for template in ("{{question}}", "Q: {{question | regex_replace('=', '')}}\nA:"):
        assert lm_eval.utils.apply_template(template, doc) == original_template(template, doc)
    with pytest.raises(Exception, match="missing"):  # StrictUndefined, as lm-eval's own
        lm_eval.utils.apply_template("{{missing}}", doc)
