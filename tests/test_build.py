import pytest
import torch

from rldynamics.build import build_model, rank_k_update
from rldynamics.factors import decompose
from rldynamics.io import ModelWeights, load_factors


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
