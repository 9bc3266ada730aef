import pandas as pd
import pytest
import torch

from rldynamics.core.errors import InputError
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
    from rldynamics.evaluate.build import build_model
    from rldynamics.decompose.factors import decompose
    from rldynamics.core.io import ModelWeights

    base_dir, rl_dir, rl = toy_base
    decompose(base_dir, rl_dir, 2, tmp_path / "f.safetensors", progress=False)
    build_model(base_dir, tmp_path / "f.safetensors", 1, tmp_path / "built", progress=False)
    loader = ModelLoader(base_dir)
    loader.load({"factors": str(tmp_path / "f.safetensors"), "rank": "1"})
    built = ModelWeights(tmp_path / "built")
    for name, param in loader.model.named_parameters():
        assert torch.allclose(param, built.get(name), atol=1e-6), name
    loader.load({"folder": str(rl_dir)})
    for name, param in loader.model.named_parameters():
        assert torch.allclose(param, rl[name]), name
    loader.load({"folder": str(base_dir)})
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
    from rldynamics.evaluate.scoring import model_tensors
    from rldynamics.decompose.factors import decompose
    from rldynamics.core.io import ModelWeights

    base_dir, rl_dir, rl = toy_base
    decompose(base_dir, rl_dir, 2, tmp_path / "f.safetensors", progress=False)
    base = ModelWeights(base_dir)
    spec = {"factors": str(tmp_path / "f.safetensors"), "rank": "1"}
    plain = model_tensors(spec, base)
    with_rest = model_tensors({**spec, "rest": "rl", "rest_from": str(rl_dir)}, base)
    one_d = [n for n in base.names() if base.get(n).ndim == 1]
    assert one_d and all(torch.equal(with_rest[n], rl[n]) for n in one_d)
    assert not any(n in plain for n in one_d)
    assert "model.embed_tokens.weight" not in with_rest  # 2-D, not decomposed: base value


def test_paper_tasks_read_public_row_forms_through_lm_eval(toy_base, tmp_path):
    """GPQA's columns and a Minerva copy's problem/solution rows, scored by lm-eval itself."""
    import json

    from rldynamics.evaluate.scoring import score_models
    from rldynamics.core.grading import GRADER_VERSION

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
        spec, tmp_path / "o.csv", tmp_path / "o.json", tmp_path / "o.items.csv", tmp_path / "o.gz"
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

    from rldynamics.decompose.factors import decompose
    from rldynamics.core.io import ModelWeights, load_factors
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
    factors, _ = load_factors(tmp_path / "f.safetensors")
    window_end = ModelWeights(rl16)
    kept, rounded = (
        ModelLoader(tmp_path / "base16", dtype="float32"),
        ModelLoader(tmp_path / "base16"),
    )
    kept.load(spec)
    rounded.load(spec)
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
