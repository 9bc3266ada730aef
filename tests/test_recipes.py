"""Model recipes: scoring jobs' model entries made into typed recipes, and one module making
their tensors for the build command, the hf backend and the vLLM workers."""

import pytest
import torch

from rldynamics.core.errors import InputError
from rldynamics.core.io import ModelWeights
from rldynamics.evaluate.job import ModelEntry, ScoringJob
from rldynamics.evaluate.recipes import (
    Extrapolation,
    FolderModel,
    RankKModel,
    changed_tensors,
    from_json,
    full_tensors,
    recipe_from_spec,
    to_json,
)


@pytest.fixture
def factors(model_pair, tmp_path):
    from rldynamics.decompose.factors import decompose

    base_dir, rl_dir, _, _ = model_pair
    path = tmp_path / "f.safetensors"
    decompose(base_dir, rl_dir, 2, path, progress=False)
    return path


def test_specs_become_typed_recipes_and_travel_as_json(model_pair, factors):
    base_dir, rl_dir, _, _ = model_pair
    specs = [
        {"folder": str(rl_dir)},
        {"factors": str(factors), "rank": 1, "lam": 0.5, "rest": "rl", "rest_from": str(rl_dir)},
        {"folder": str(rl_dir), "factors": str(factors), "rank": "1", "scale": "none"},
        {"extrapolate": {"from": str(base_dir), "to": str(rl_dir), "alpha": 2}},
    ]
    entries = [ModelEntry.from_spec({"key": f"m{i}", **s}, "spec") for i, s in enumerate(specs)]
    recipes = [recipe_from_spec(entry, base_dir) for entry in entries]
    assert [type(r) for r in recipes] == [FolderModel, RankKModel, RankKModel, Extrapolation]
    assert recipes[1].rank == "1" and recipes[1].lam == 0.5 and recipes[1].container is None
    assert recipes[2].container == str(rl_dir) and recipes[2].lam == 1.0  # λ not given: 1
    assert recipes[3].alpha == 2.0
    assert all(from_json(to_json(r)) == r for r in recipes)


@pytest.mark.parametrize(
    "spec, message",
    [
        # read from the spec: refused when the job is read
        ({"key": "m"}, "spec: model 'm': gives none of"),
        ({"key": "m", "factors": "f.safetensors"}, "without 'rank'"),
        ({"key": "m", "extrapolate": {"from": "a", "to": "b"}}, "lacks \\['alpha'\\]"),
        # values of the recipe: refused when it is made
        ({"factors": "f.safetensors", "rank": "half"}, "half"),
        ({"factors": "f.safetensors", "rank": 1, "scale": "max"}, "scale"),
        ({"factors": "f.safetensors", "rank": 1, "rest": "rl"}, "rest_from"),
    ],
)
def test_a_bad_spec_is_refused_naming_what_is_wrong(spec, message):
    with pytest.raises(InputError, match=message):
        recipe_from_spec(ModelEntry.from_spec(spec, "spec"), "base")


def test_full_tensors_are_what_the_build_command_writes(model_pair, factors, tmp_path):
    from rldynamics.evaluate.build import build_model

    base_dir, rl_dir, _, _ = model_pair
    build_model(
        base_dir, factors, 1, tmp_path / "built", progress=False, rest="rl", checkpoint=rl_dir
    )
    built = ModelWeights(tmp_path / "built")
    recipe = RankKModel(str(base_dir), str(factors), "1", rest="rl", rest_from=str(rl_dir))
    tensors = dict(full_tensors(recipe))
    assert sorted(tensors) == sorted(built.names())
    for name, value in tensors.items():
        assert torch.equal(value, built.get(name)), name


def test_a_folder_recipe_of_the_base_changes_nothing_and_others_cast_to_a_dtype(model_pair):
    base_dir, rl_dir, base, rl = model_pair
    assert changed_tensors(FolderModel(str(base_dir), str(base_dir))) == {}
    tensors = dict(full_tensors(FolderModel(str(base_dir), str(rl_dir)), dtype=torch.bfloat16))
    assert all(v.dtype == torch.bfloat16 for v in tensors.values())
    assert all(torch.equal(tensors[n], rl[n].to(torch.bfloat16)) for n in rl)


def test_vllm_engine_arguments_from_the_spec():
    from rldynamics.evaluate.vllm_backend import engine_args

    spec = {"base": "b", "benchmarks": [], "models": [], "gpus": 2, "dtype": "float32", "seed": 5}

    def job(**changes):
        return ScoringJob.from_spec({**spec, **changes}, "spec")

    args = engine_args(job(vllm={"kv_cache_gib": 0.5, "max_model_len": 64}))
    assert args["kv_cache_memory_bytes"] == 2**29 and args["max_model_len"] == 64
    assert args["tensor_parallel_size"] == 2 and args["seed"] == 5 and args["dtype"] == "float32"
    assert args["model"] == args["tokenizer"] == "b" and args["trust_remote_code"] is False
    assert "gpu_memory_utilization" not in args  # vLLM's own default unless given
    args = engine_args(job(vllm={"memory_share": 0.3, "tensor_parallel": 1}))
    assert args["gpu_memory_utilization"] == 0.3 and args["tensor_parallel_size"] == 1
    assert engine_args(job(gpus=0))["tensor_parallel_size"] == 1  # a CPU job: one worker
    assert engine_args(job(tokenizer="tok"))["tokenizer"] == "tok"
    with pytest.raises(InputError, match="spec: evaluate.vllm: unknown key"):
        job(vllm={"memory": 0.3})
