import pytest
import torch

from rldynamics.core.io import ModelWeights, load_factors
from rldynamics.decompose.factors import decompose
from rldynamics.evaluate.build import build_model
from rldynamics.evaluate.recipes import rank_k_update


def test_full_rank_build_gives_back_the_rl_weights(model_pair, tmp_path):
    base_dir, rl_dir, base, rl = model_pair
    factors = tmp_path / "full.safetensors"
    decompose(base_dir, rl_dir, "full", factors, progress=False)
    build_model(base_dir, factors, "full", tmp_path / "m", progress=False)
    built = ModelWeights(tmp_path / "m")
    for name in base:
        got = built.get(name)
        if name.endswith("_proj.weight"):
            assert torch.allclose(got, rl[name], atol=1e-5), name
        else:  # rest: base, as the released code does
            assert torch.equal(got, base[name]), name
    assert (tmp_path / "m" / "config.json").exists()


def test_rank1_frobenius_scale_carries_the_whole_update_norm(model_pair, tmp_path):
    base_dir, rl_dir, _, _ = model_pair
    decompose(base_dir, rl_dir, 4, tmp_path / "f.safetensors", progress=False)
    factors, _ = load_factors(tmp_path / "f.safetensors")
    parts = factors["model.layers.0.self_attn.o_proj.weight"]
    scaled = rank_k_update(parts, 1, "frobenius", 1.0)
    assert torch.linalg.norm(scaled).item() == pytest.approx(parts["fro"].item(), rel=1e-5)
    plain = rank_k_update(parts, 1, "none", 0.5)
    expected = 0.5 * parts["S"][0] * torch.outer(parts["U"][:, 0], parts["V"][:, 0])
    assert torch.allclose(plain, expected, atol=1e-7)
    assert torch.linalg.matrix_rank(scaled).item() == 1


def test_rest_rl_takes_1d_tensors_from_the_recorded_checkpoint(model_pair, tmp_path):
    base_dir, rl_dir, base, rl = model_pair
    factors = tmp_path / "f.safetensors"
    decompose(base_dir, rl_dir, 2, factors, progress=False)
    counts = build_model(base_dir, factors, 2, tmp_path / "m", progress=False, rest="rl")
    built = ModelWeights(tmp_path / "m")
    for name in base:
        got = built.get(name)
        if name.endswith("_proj.weight"):
            continue  # rank-k
        if base[name].ndim == 1:  # norms and biases: from the RL checkpoint
            assert torch.equal(got, rl[name]), name
        else:  # embeddings keep the base value
            assert torch.equal(got, base[name]), name
    assert counts == {"rank-k": 14, "rl": 5, "base": 1}


def test_rest_rl_without_a_checkpoint_is_a_named_error(model_pair, tmp_path):
    from rldynamics.core.errors import InputError
    from rldynamics.core.io import save_tensors

    base_dir, rl_dir, _, _ = model_pair
    decompose(base_dir, rl_dir, 2, tmp_path / "f.safetensors", progress=False)
    factors, meta = load_factors(tmp_path / "f.safetensors")
    tensors = {f"{p}.{k}": v for p, parts in factors.items() for k, v in parts.items()}
    meta.pop("checkpoint")
    save_tensors(tmp_path / "nock.safetensors", tensors, meta)
    with pytest.raises(InputError, match="records none.*--checkpoint"):
        build_model(base_dir, tmp_path / "nock.safetensors", 1, tmp_path / "m", rest="rl")
    with pytest.raises(InputError, match="nowhere.*not found"):
        build_model(
            base_dir, tmp_path / "f.safetensors", 1, tmp_path / "m", rest="rl", checkpoint="nowhere"
        )
    assert not (tmp_path / "m").exists()
    # Given explicitly, the checkpoint overrides what the file records (or lacks).
    build_model(
        base_dir, tmp_path / "nock.safetensors", 1, tmp_path / "m", rest="rl", checkpoint=rl_dir
    )
    assert (tmp_path / "m" / "model.safetensors").exists()
