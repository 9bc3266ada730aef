import pytest
import torch

from rldynamics.errors import InputError
from rldynamics.factors import canonical_signs, decompose, top_factors
from rldynamics.io import load_factors
from rldynamics.selection import DEFAULT_PARAM_PATTERN, select_params


def test_planted_rank1_update_is_recovered_with_its_norm():
    gen = torch.Generator().manual_seed(0)
    u = torch.nn.functional.normalize(torch.randn(40, generator=gen), dim=0)
    v = torch.nn.functional.normalize(torch.randn(25, generator=gen), dim=0)
    delta = 3.5 * torch.outer(u, v)
    U, S, V, fro = top_factors(delta, 2)
    assert S[0].item() == pytest.approx(3.5, rel=1e-5)
    assert S[1].item() == pytest.approx(0.0, abs=1e-5)
    assert fro.item() == pytest.approx(3.5, rel=1e-5)
    assert abs(torch.dot(U[:, 0], u)).item() == pytest.approx(1.0, abs=1e-6)
    assert abs(torch.dot(V[:, 0], v)).item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose((U * S) @ V.T, delta, atol=1e-5)


def test_sign_convention_makes_largest_entry_of_u_positive_and_keeps_product():
    gen = torch.Generator().manual_seed(3)
    U = torch.linalg.qr(torch.randn(10, 3, generator=gen))[0]
    V = torch.linalg.qr(torch.randn(8, 3, generator=gen))[0]
    U2, V2 = canonical_signs(-U, -V)
    idx = U2.abs().argmax(dim=0)
    assert (U2[idx, torch.arange(3)] > 0).all()
    assert torch.allclose(U2 @ V2.T, U @ V.T, atol=1e-6)
    assert torch.allclose(canonical_signs(U, V)[0], U2)


def test_rank_above_matrix_rank_is_a_named_error():
    with pytest.raises(InputError, match="layer.q.*rank 9 exceeds"):
        top_factors(torch.randn(8, 5), 9, "layer.q")


def test_default_pattern_selects_projections_only():
    names = [
        "model.layers.10.self_attn.q_proj.weight",
        "model.layers.2.mlp.down_proj.weight",
        "model.layers.2.self_attn.q_proj.bias",
        "model.layers.2.input_layernorm.weight",
        "model.embed_tokens.weight",
        "lm_head.weight",
        "model.layers.2.self_attn.q_norm.weight",
    ]
    assert select_params(names, DEFAULT_PARAM_PATTERN) == [
        "model.layers.2.mlp.down_proj.weight",
        "model.layers.10.self_attn.q_proj.weight",
    ]


def test_decompose_writes_the_factor_contract(model_pair, tmp_path):
    base_dir, rl_dir, base, rl = model_pair
    out = tmp_path / "f.safetensors"
    decompose(base_dir, rl_dir, 3, out, progress=False)
    factors, meta = load_factors(out)
    assert len(factors) == 14 and meta["rank"] == 3 and meta["method"] == "exact"
    name = "model.layers.1.mlp.up_proj.weight"
    parts = factors[name]
    assert parts["U"].shape == (20, 3) and parts["V"].shape == (12, 3) and parts["S"].shape == (3,)
    delta = rl[name] - base[name]
    assert parts["fro"].item() == pytest.approx(torch.linalg.norm(delta).item(), rel=1e-5)
    assert parts["S"][0].item() == pytest.approx(
        torch.linalg.matrix_norm(delta, 2).item(), rel=1e-5
    )


def test_decompose_names_a_shape_mismatch(model_pair, tmp_path):
    from tests.conftest import write_model

    base_dir, _, base, _ = model_pair
    other = dict(base)
    other["model.layers.0.mlp.up_proj.weight"] = torch.zeros(21, 12)
    bad = write_model(tmp_path / "bad", other)
    with pytest.raises(InputError, match="model.layers.0.mlp.up_proj.weight.*shape"):
        decompose(base_dir, bad, 2, tmp_path / "x.safetensors", progress=False)
    assert not (tmp_path / "x.safetensors").exists()
