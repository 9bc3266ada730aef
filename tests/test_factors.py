import logging
from collections import Counter

import pytest
import torch

from rldynamics.core.errors import InputError
from rldynamics.core.io import ModelWeights, load_factors
from rldynamics.core.selection import DEFAULT_PARAM_PATTERN, select_params
from rldynamics.core.settings import MetricSettings
from rldynamics.decompose.factors import (
    canonical_signs,
    checked_update,
    decompose,
    factor_metadata,
    factor_pass,
    matrix_metrics_function,
    require_an_update,
    top_factors,
    warn_fallbacks,
    write_factor_files,
)
from rldynamics.decompose.lowrank import Guard, Workspace
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


# --- the steps of decompose --------------------------------------------------------------------

CPU = torch.device("cpu")


def test_checked_update_is_the_float32_difference_of_the_stored_weights(tmp_path):
    base, rl = planted_pair(torch.bfloat16)
    base_dir, rl_dir = write_model(tmp_path / "b", base), write_model(tmp_path / "r", rl)
    w0, w1, delta, fro = checked_update(ModelWeights(base_dir), ModelWeights(rl_dir), MLP, CPU)
    assert w0.dtype == w1.dtype == torch.bfloat16 and torch.equal(w1, rl[MLP])
    assert delta.dtype == torch.float32
    assert torch.equal(delta, rl[MLP].float() - base[MLP].float())
    assert fro.item() == pytest.approx(torch.linalg.norm(delta.double()).item(), rel=1e-6)
    broken = dict(rl)
    broken[ATTN] = torch.full((160, 160), float("inf"), dtype=torch.bfloat16)
    bad = write_model(tmp_path / "inf", broken)
    with pytest.raises(InputError, match="q_proj.*inf.*NaN or Inf"):
        checked_update(ModelWeights(base_dir), ModelWeights(bad), ATTN, CPU)


def test_matrix_metrics_function_gives_the_metrics_of_one_matrix(model_pair, tmp_path):
    from rldynamics.decompose.metrics_files import write_base_metrics
    from rldynamics.decompose.param_metrics import update_sparsity

    base_dir, _, base, rl = model_pair
    name = "model.layers.1.mlp.up_proj.weight"
    own = matrix_metrics_function(None, None)(name, base[name], rl[name], Workspace())
    sparsity = [row["value"] for row in own if row["metric"] == "update_sparsity"]
    assert sparsity == [pytest.approx(update_sparsity(base[name], rl[name]))]
    assert {row["param"] for row in own} == {name}
    shares = tmp_path / "base-metrics.safetensors"
    write_base_metrics(base_dir, shares, progress=False)
    stored = matrix_metrics_function(MetricSettings(), shares)
    assert stored(name, base[name], rl[name], Workspace()) == pytest.approx(own)
    with pytest.raises(InputError, match="mask rank"):
        matrix_metrics_function(MetricSettings(mask_rank=2), shares)


def test_factor_pass_factors_every_matrix_and_records_how(tmp_path):
    base, rl = planted_pair(torch.bfloat16)
    base_dir, rl_dir = write_model(tmp_path / "b", base), write_model(tmp_path / "r", rl)
    pair = ModelWeights(base_dir), ModelWeights(rl_dir)
    tensors, solver, rows, dtypes = factor_pass(
        *pair, [ATTN, MLP], CPU, 4, "exact", Guard(), 0, progress=False
    )
    assert set(tensors) == {f"{n}.{part}" for n in (ATTN, MLP) for part in "USV"} | {
        f"{n}.fro" for n in (ATTN, MLP)
    }
    for name in (ATTN, MLP):
        delta = rl[name].float() - base[name].float()
        S = tensors[f"{name}.S"]
        assert torch.allclose(S, torch.linalg.svdvals(delta.double())[:4].float(), rtol=1e-5)
        assert tensors[f"{name}.U"].shape == (delta.shape[0], 4)
        assert tensors[f"{name}.fro"].item() == pytest.approx(torch.linalg.norm(delta).item())
        assert solver[name] == {"method": "exact", "steps": 0, "passes": 0} | {
            "sigma_err": None,
            "angle": None,
        }
    assert rows == [] and dtypes == {"base": {"bfloat16"}, "checkpoint": {"bfloat16"}}
    metrics = matrix_metrics_function(None, None)
    _, _, rows, _ = factor_pass(*pair, [ATTN], CPU, 4, "exact", Guard(), 0, metrics, progress=False)
    assert rows and {row["param"] for row in rows} == {ATTN}


def test_require_an_update_refuses_a_copy_of_the_base():
    zero = {"a.fro": torch.tensor(0.0), "b.fro": torch.tensor(0.0)}
    with pytest.raises(InputError, match="checkpoint ck is identical to the base bs in every"):
        require_an_update(zero, ["a", "b"], "bs", "ck")
    require_an_update({"a.fro": torch.tensor(0.0), "b.fro": torch.tensor(1e-8)}, ["a", "b"], 0, 0)


def test_factor_metadata_records_the_run_and_its_solvers():
    used = Counter({"randomized": 2, "exact-fallback": 1})
    dtypes = {"base": {"float32"}, "checkpoint": {"float16", "bfloat16"}}
    solver = {"a": {"method": "randomized"}}
    meta = factor_metadata("b", "c", None, "randomized", used, CPU, dtypes, "p", 3, Guard(), solver)
    assert meta["rank"] == "full" and meta["device"] == "cpu" and meta["seed"] == 3
    assert list(meta["methods_used"].items()) == [("exact-fallback", 1), ("randomized", 2)]
    assert meta["dtype"] == ["bfloat16", "float16"] and meta["base_dtype"] == ["float32"]
    assert meta["guard"]["block"] == 16 and meta["solver"] is solver
    assert (meta["base"], meta["checkpoint"], meta["pattern"]) == ("b", "c", "p")
    assert (
        factor_metadata("b", "c", 8, "exact", used, CPU, dtypes, "p", 0, Guard(), {})["rank"] == 8
    )


def test_warn_fallbacks_counts_them_only_when_there_are_some(caplog):
    with caplog.at_level(logging.WARNING, logger="rldynamics.decompose.factors"):
        warn_fallbacks(Counter({"randomized": 3}), 3)
        assert caplog.records == []
        warn_fallbacks(Counter({"randomized": 3, "exact-fallback": 2}), 5)
    assert [record.getMessage() for record in caplog.records] == [
        "2 of 5 matrices fell back to the exact SVD (flat spectrum): see metadata 'solver'"
    ]


def test_write_factor_files_writes_both_or_neither(tmp_path):
    import pandas as pd

    tensors = {"m.U": torch.ones(3, 1), "m.S": torch.tensor([2.0]), "m.V": torch.ones(2, 1)}
    tensors["m.fro"] = torch.tensor(2.0)
    meta = {"rank": 1, "solver": {"m": {"method": "exact"}}}
    row = {"param": "m", "layer": 0, "type": "mlp", "rows": 3, "cols": 2}
    rows = [row | {"metric": "update_sparsity", "k": None, "value": 0.5}]
    out, csv = tmp_path / "f.safetensors", tmp_path / "m.csv"
    write_factor_files(out, tensors, meta, csv, rows, {"run": "r", "step": 4})
    factors, stored = load_factors(out)
    assert (
        torch.equal(factors["m"]["S"], torch.tensor([2.0])) and stored["solver"] == meta["solver"]
    )
    table = pd.read_csv(csv)
    assert table[["param", "run", "step", "value"]].values.tolist() == [["m", "r", 4, 0.5]]
    tensors["m.V"] = "not a tensor"
    with pytest.raises(AttributeError):
        write_factor_files(tmp_path / "g.safetensors", tensors, meta, tmp_path / "n.csv", rows)
    assert not (tmp_path / "g.safetensors").exists() and not (tmp_path / "n.csv").exists()
    assert list(tmp_path.glob(".*.tmp")) == []
