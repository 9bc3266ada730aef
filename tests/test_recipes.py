"""Model recipes: scoring specs read into typed recipes, and one module making their tensors for
the build command, the hf backend and the vLLM workers."""

import pytest
import torch

from rldynamics.core.errors import InputError
from rldynamics.core.io import ModelWeights
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
    recipes = [recipe_from_spec(spec, base_dir) for spec in specs]
    assert [type(r) for r in recipes] == [FolderModel, RankKModel, RankKModel, Extrapolation]
    assert recipes[1].rank == "1" and recipes[1].lam == 0.5 and recipes[1].container is None
    assert recipes[2].container == str(rl_dir)
    assert all(from_json(to_json(r)) == r for r in recipes)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"key": "m"}, "model 'm': gives none of"),
        ({"key": "m", "factors": "f.safetensors"}, "without 'rank'"),
        ({"key": "m", "extrapolate": {"from": "a", "to": "b"}}, "lacks \\['alpha'\\]"),
        ({"factors": "f.safetensors", "rank": "half"}, "half"),
        ({"factors": "f.safetensors", "rank": 1, "scale": "max"}, "scale"),
        ({"factors": "f.safetensors", "rank": 1, "rest": "rl"}, "rest_from"),
    ],
)
def test_a_bad_spec_is_refused_naming_what_is_wrong(spec, message):
    with pytest.raises(InputError, match=message):
        recipe_from_spec(spec, "base")


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

    spec = {"base": "b", "gpus": 2, "dtype": "float32", "seed": 5}
    args = engine_args({**spec, "vllm": {"kv_cache_gib": 0.5, "max_model_len": 64}})
    assert args["kv_cache_memory_bytes"] == 2**29 and args["max_model_len"] == 64
    assert args["tensor_parallel_size"] == 2 and args["seed"] == 5 and args["dtype"] == "float32"
    assert "gpu_memory_utilization" not in args  # vLLM's own default unless given
    args = engine_args({**spec, "vllm": {"memory_share": 0.3, "tensor_parallel": 1}})
    assert args["gpu_memory_utilization"] == 0.3 and args["tensor_parallel_size"] == 1
    with pytest.raises(InputError, match="evaluate.vllm: unknown key"):
        engine_args({**spec, "vllm": {"memory": 0.3}})
