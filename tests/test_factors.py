import pytest
import torch

from rldynamics.core.errors import InputError
from rldynamics.decompose.factors import canonical_signs, decompose, top_factors
from rldynamics.core.io import load_factors
from rldynamics.core.selection import DEFAULT_PARAM_PATTERN, select_params
from tests.conftest import planted, rl_like_spectrum, write_model, write_sharded_model


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
    assert len(factors) == 14 and meta["rank"] == 3 and meta["method"] == "randomized"
    # 12 × 20 matrices are too small for Krylov blocks: every one went to the exact SVD.
    assert meta["methods_used"] == {"exact": 14} and meta["device"] == "cpu"
    assert meta["checkpoint"] == str(rl_dir) and meta["dtype"] == ["float32"]
    assert set(meta["solver"]) == set(factors) and meta["guard"]["block"] == 16
    name = "model.layers.1.mlp.up_proj.weight"
    parts = factors[name]
    assert parts["U"].shape == (20, 3) and parts["V"].shape == (12, 3) and parts["S"].shape == (3,)
    delta = rl[name] - base[name]
    assert parts["fro"].item() == pytest.approx(torch.linalg.norm(delta).item(), rel=1e-5)
    assert parts["S"][0].item() == pytest.approx(
        torch.linalg.matrix_norm(delta, 2).item(), rel=1e-5
    )


def test_decompose_names_a_shape_mismatch(model_pair, tmp_path):
    base_dir, _, base, _ = model_pair
    other = dict(base)
    other["model.layers.0.mlp.up_proj.weight"] = torch.zeros(21, 12)
    bad = write_model(tmp_path / "bad", other)
    with pytest.raises(InputError, match="model.layers.0.mlp.up_proj.weight.*shape"):
        decompose(
            base_dir,
            bad,
            2,
            tmp_path / "x.safetensors",
            progress=False,
            metrics_out=tmp_path / "x.csv",
        )
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "x.csv").exists()
    assert list(tmp_path.glob(".*.tmp")) == []


# --- larger pairs: the randomized engine, stored dtypes, shards ---------------------------

ATTN = "model.layers.0.self_attn.q_proj.weight"
MLP = "model.layers.0.mlp.up_proj.weight"
NORM = "model.layers.0.input_layernorm.weight"


def planted_pair(dtype=torch.bfloat16):
    """Base weights and an RL-like update (dominant direction over a 1/i tail), as ``dtype``."""
    gen = torch.Generator().manual_seed(11)
    base = {
        ATTN: 0.02 * torch.randn(160, 160, generator=gen),
        MLP: 0.02 * torch.randn(400, 160, generator=gen),
        NORM: torch.ones(160),
    }
    rl = {
        ATTN: base[ATTN] + 0.05 * planted(160, 160, rl_like_spectrum(160), 1),
        MLP: base[MLP] + 0.05 * planted(400, 160, rl_like_spectrum(160), 2),
        NORM: base[NORM] + 0.01,
    }
    return {k: v.to(dtype) for k, v in base.items()}, {k: v.to(dtype) for k, v in rl.items()}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_randomized_factors_match_exact_for_each_stored_dtype(tmp_path, dtype):
    base, rl = planted_pair(dtype)
    base_dir, rl_dir = write_model(tmp_path / "b", base), write_model(tmp_path / "r", rl)
    decompose(base_dir, rl_dir, 8, tmp_path / "rand.safetensors", progress=False)
    decompose(base_dir, rl_dir, 8, tmp_path / "exact.safetensors", progress=False, method="exact")
    rand, meta = load_factors(tmp_path / "rand.safetensors")
    exact, exact_meta = load_factors(tmp_path / "exact.safetensors")
    assert meta["methods_used"] == {"randomized": 2} and exact_meta["methods_used"] == {"exact": 2}
    assert meta["dtype"] == [str(dtype).removeprefix("torch.")]
    for name in (ATTN, MLP):
        delta = rl[name].float() - base[name].float()  # the update as stored
        got, ref = rand[name], exact[name]
        assert ((got["S"] - ref["S"]).abs() / ref["S"]).max() <= 1e-4
        assert torch.allclose(got["U"][:, 0], ref["U"][:, 0], atol=1e-3)  # same sign convention
        assert torch.allclose(got["V"][:, 0], ref["V"][:, 0], atol=1e-3)
        assert got["fro"].item() == pytest.approx(torch.linalg.norm(delta).item(), rel=1e-6)
        assert meta["solver"][name]["sigma_err"] <= 1e-5


def test_sharded_checkpoint_gives_the_same_factors(tmp_path):
    base, rl = planted_pair()
    base_dir = write_model(tmp_path / "b", base)
    single = write_model(tmp_path / "r1", rl)
    sharded = write_sharded_model(tmp_path / "r2", rl, shards=3)
    decompose(base_dir, single, 4, tmp_path / "one.safetensors", progress=False)
    decompose(base_dir, sharded, 4, tmp_path / "two.safetensors", progress=False)
    one, _ = load_factors(tmp_path / "one.safetensors")
    two, _ = load_factors(tmp_path / "two.safetensors")
    for name in one:
        for part in ("U", "S", "V", "fro"):
            assert torch.equal(one[name][part], two[name][part]), (name, part)


def test_decompose_writes_the_metrics_of_the_same_pass(model_pair, tmp_path):
    import pandas as pd

    from rldynamics.decompose.param_metrics import update_sparsity

    base_dir, rl_dir, base, rl = model_pair
    out, csv = tmp_path / "f.safetensors", tmp_path / "m.csv"
    decompose(
        base_dir, rl_dir, 2, out, progress=False, metrics_out=csv, labels={"run": "t", "step": 7}
    )
    table = pd.read_csv(csv)
    assert set(table["step"]) == {7} and set(table["run"]) == {"t"}
    assert table["param"].nunique() == 14
    sparsity = table[table["metric"] == "update_sparsity"].set_index("param")["value"]
    assert len(sparsity) == 14
    for name, value in sparsity.items():
        assert value == pytest.approx(update_sparsity(base[name], rl[name]))


def test_nan_in_checkpoint_is_named_and_leaves_nothing(model_pair, tmp_path):
    base_dir, _, base, _ = model_pair
    broken = dict(base)
    broken[MLP.replace("up_proj", "gate_proj")] = torch.full((20, 12), float("nan"))
    bad = write_model(tmp_path / "nan", broken)
    out, csv = tmp_path / "f.safetensors", tmp_path / "m.csv"
    with pytest.raises(InputError, match="gate_proj.*nan.*NaN or Inf"):
        decompose(base_dir, bad, 2, out, progress=False, metrics_out=csv)
    assert not out.exists() and not csv.exists() and list(tmp_path.glob(".*.tmp")) == []


def test_flat_update_spectrum_falls_back_to_exact_and_says_so(tmp_path):
    gen = torch.Generator().manual_seed(4)
    base = {MLP: torch.randn(400, 160, generator=gen)}
    rl = {MLP: base[MLP] + 0.01 * torch.randn(400, 160, generator=gen)}  # white noise
    base_dir, rl_dir = write_model(tmp_path / "b", base), write_model(tmp_path / "r", rl)
    meta = decompose(base_dir, rl_dir, 8, tmp_path / "f.safetensors", progress=False)
    assert meta["methods_used"] == {"exact-fallback": 1}
    record = meta["solver"][MLP]
    assert record["steps"] == 5 and "guard not met" in record["reason"]
    _, stored = load_factors(tmp_path / "f.safetensors")
    assert stored["solver"][MLP]["method"] == "exact-fallback"
