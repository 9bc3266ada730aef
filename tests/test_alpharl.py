"""AlphaRL variants and the baseline on planted series, where the right answers are known."""

import numpy as np
import pytest
import torch

from rldynamics.alpharl import linear_in_step, predict, predict_updates
from rldynamics.baseline import extrapolated_weights, extrapolation_factor
from rldynamics.dynamics import Series, save_series
from rldynamics.errors import InputError
from rldynamics.io import ModelWeights, load_factors
from rldynamics.linearity import linearity_table
from rldynamics.windows import window_steps
from tests.conftest import write_model

STEPS = list(range(10, 110, 10))
PLANTED = ["model.layers.0.mlp.up_proj.weight", "model.layers.0.self_attn.q_proj.weight"]
NOISE = ["model.layers.1.mlp.down_proj.weight"]
NOISE_LEVEL = 0.05


def planted_series(noise=NOISE_LEVEL, seed=0):
    """Planted modules: ΔW_t = (t·g + noise) v1ᵀ, a fixed unit direction v1 and g random, so
    the top direction's magnitude grows linearly with the step. Noise modules: noise only."""
    gen = torch.Generator().manual_seed(seed)
    U1, V1, S1, fro, truth = {}, {}, {}, {}, {}
    for module in PLANTED + NOISE:
        m, n = 24, 9
        g = torch.randn(m, generator=gen) * (0.02 if module in PLANTED else 0.0)
        v = torch.nn.functional.normalize(torch.randn(n, generator=gen), dim=0)
        level = noise if module in PLANTED else NOISE_LEVEL
        xs = torch.stack([t * g + level * torch.randn(m, generator=gen) for t in STEPS])
        norms = torch.linalg.norm(xs, dim=1)
        # Rank-1 updates: x_t v1ᵀ has u1 = x_t/‖x_t‖, σ1 = ‖ΔW‖F = ‖x_t‖; random signs as an
        # SVD would give them.
        signs = torch.where(torch.rand(len(STEPS), generator=gen) < 0.5, -1.0, 1.0)
        U1[module] = xs / norms[:, None] * signs[:, None]
        V1[module] = v.repeat(len(STEPS), 1) * signs[:, None]
        S1[module], fro[module] = norms, norms.clone()
        truth[module] = (g, v)
    accuracy = {t: 0.2 + 0.006 * t for t in STEPS}
    return Series(STEPS, U1, V1, S1, fro), accuracy, truth


def update_error(u_hat, v, module, truth, target_step):
    g, v_true = truth[module]
    predicted = torch.outer(u_hat.float(), v.float())
    expected = torch.outer(target_step * g, v_true)
    return float(torch.linalg.norm(predicted - expected))


def test_prospective_prediction_error_is_within_the_planted_noise():
    series, _, truth = planted_series()
    window = window_steps(STEPS, 0.4)
    updates, read = predict_updates(series, "prospective", window, target_step=100)
    assert read["checkpoints"] == [10, 20, 30, 40] and read["accuracies"] == []
    # The planted noise of one checkpoint has norm ≈ NOISE_LEVEL·√m; a least-squares line
    # through the window carries it to step 100 multiplied by √(1/w + (T − t̄)²/Σ(t − t̄)²).
    t = np.array(window, dtype=float)
    spread = np.sqrt(1 / len(t) + (100 - t.mean()) ** 2 / ((t - t.mean()) ** 2).sum())
    noise_at_target = NOISE_LEVEL * np.sqrt(24) * spread  # ≈ 0.83 for this window
    for module in PLANTED:
        u_hat, v = updates[module]
        err = update_error(u_hat, v, module, truth, 100)
        assert err < 1.5 * noise_at_target, (module, err, noise_at_target)
        assert err / float(torch.linalg.norm(100 * truth[module][0])) < 0.15


def test_exact_linear_series_is_extrapolated_exactly_by_every_variant():
    series, accuracy, truth = planted_series(noise=0.0)
    window = window_steps(STEPS, 0.4)
    for variant, target in [("paper", 1.0), ("prospective", None)]:
        updates, _ = predict_updates(series, variant, window, accuracy, target or 1.0, 100)
        for module in PLANTED:
            assert update_error(*updates[module], module, truth, 100) < 1e-6, (variant, module)
    # official-code: raw accuracy, y* = accuracy of step 100 reaches x_100 in σ1·u1 units.
    updates, _ = predict_updates(series, "official-code", window, accuracy, accuracy[100])
    for module in PLANTED:
        assert update_error(*updates[module], module, truth, 100) < 1e-6


def test_backward_variants_read_after_the_window_and_prospective_does_not(tmp_path):
    series, accuracy, _ = planted_series()
    path = tmp_path / "series.safetensors"
    save_series(path, series)
    infos = {}
    for variant in ["paper", "official-code", "prospective"]:
        infos[variant] = predict(path, accuracy, 0.4, tmp_path / f"{variant}.safetensors", variant)
    assert infos["paper"]["checkpoints_read_after_window"] == STEPS[4:]
    assert infos["paper"]["accuracies_read"] == [10, 20, 30, 40, 100]
    assert infos["official-code"]["checkpoints_read_after_window"] == STEPS[4:]
    assert infos["official-code"]["accuracies_read"] == [10, 20, 30, 40]
    assert infos["prospective"]["checkpoints_read_after_window"] == []
    assert infos["prospective"]["accuracies_read"] == []
    # And it really does not: changing every later checkpoint leaves its prediction unchanged.
    changed = planted_series(seed=5)[0]
    for field in ("U1", "V1", "S1", "fro"):
        for module in PLANTED + NOISE:
            getattr(changed, field)[module][:4] = getattr(series, field)[module][:4]
    save_series(tmp_path / "changed.safetensors", changed)
    predict(tmp_path / "changed.safetensors", None, 0.4, tmp_path / "p2.safetensors", "prospective")
    before, _ = load_factors(tmp_path / "prospective.safetensors")
    after, _ = load_factors(tmp_path / "p2.safetensors")
    for module in before:
        for part in "USV":
            assert torch.equal(before[module][part], after[module][part])


def test_linearity_r2_near_one_on_planted_modules_and_inside_the_control_on_noise():
    series, accuracy, _ = planted_series()
    table, control = linearity_table(
        series, accuracy, control_draws=50, seed=1, forms=("fro-u1",), alignments=("backward",)
    )
    table = table.set_index("module")
    for module in PLANTED:
        assert table.loc[module, "r2"] > 0.98
        assert table.loc[module, "r2_heldout"] > 0.9
        assert table.loc[module, "r2"] > table.loc[module, "control_p95"]
    for module in NOISE:
        # Pure noise: its in-sample R² is what shuffled accuracies give too.
        assert table.loc[module, "r2"] <= table.loc[module, "control_p95"] + 1e-9
    assert len(control) == 50 * 3


def test_linear_in_step_is_least_squares():
    X = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0]])
    assert np.allclose(linear_in_step(X, [1, 2, 3], 5), [5.0, 4.0])


def test_whole_weight_baseline_extrapolates_and_copies_norms(tmp_path):
    a = {"w.weight": torch.zeros(2, 2), "model.norm.weight": torch.ones(2)}
    b = {"w.weight": torch.ones(2, 2), "model.norm.weight": torch.full((2,), 2.0)}
    start, end = write_model(tmp_path / "a", a), write_model(tmp_path / "b", b)
    alpha = extrapolation_factor(10, 20, 50)
    assert alpha == 4.0
    out = extrapolated_weights(ModelWeights(start), ModelWeights(end), alpha)
    assert torch.equal(out["w.weight"], torch.full((2, 2), 4.0))
    assert torch.equal(out["model.norm.weight"], b["model.norm.weight"])
    with pytest.raises(InputError, match="B < S"):
        extrapolation_factor(20, 20, 50)


def test_window_needs_two_checkpoints():
    assert window_steps([10, 20, 30, 40], 0.5) == [10, 20]
    with pytest.raises(InputError, match="at least two"):
        window_steps([10, 20, 30, 40], 0.3)


def test_unknown_variant_is_refused():
    series, accuracy, _ = planted_series()
    with pytest.raises(InputError, match="variant"):
        predict_updates(series, "magic", [10, 20], accuracy)
