"""AlphaRL variants and the baseline on planted series, where the right answers are known."""

import numpy as np
import pytest
import torch

from rldynamics.alpharl.predict import linear_in_step, predict, predict_updates
from rldynamics.core.errors import InputError
from rldynamics.core.io import ModelWeights, load_factors
from rldynamics.core.windows import window_steps
from rldynamics.dynamics.linearity import linearity_table
from rldynamics.dynamics.trajectories import Series, save_series
from rldynamics.evaluate.recipes import extrapolated_weights, extrapolation_factor
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


def product(update):
    u_hat, v = update
    return torch.outer(u_hat.double(), v.double())


def later_checkpoints_changed(series, window_length, seed=5):
    """The series with every checkpoint after the window replaced by another planted run's."""
    changed = planted_series(seed=seed)[0]
    for field in ("U1", "V1", "S1", "fro"):
        for module in PLANTED + NOISE:
            getattr(changed, field)[module][:window_length] = getattr(series, field)[module][
                :window_length
            ]
    return changed


def test_changing_every_checkpoint_after_the_window_changes_only_the_paper_normaliser(tmp_path):
    series, accuracy, _ = planted_series()
    window = window_steps(STEPS, 0.4)
    changed = later_checkpoints_changed(series, len(window))
    # Later accuracies change too, all but the final one (the paper variant's normaliser).
    later = {t: (0.9 - 0.004 * t if t in STEPS[4:-1] else a) for t, a in accuracy.items()}
    for variant in ["paper", "official-code", "prospective"]:
        before, _ = predict_updates(series, variant, window, accuracy, 1.7, 100)
        after, _ = predict_updates(changed, variant, window, later, 1.7, 100)
        for module in before:
            assert torch.equal(product(before[module]), product(after[module])), variant
    # The final accuracy moves only the paper variant, and only as a normaliser: relative
    # accuracy y/a' at y* = 1 is y/a at y* = a'/a.
    final_moved = {**accuracy, 100: accuracy[100] * 0.8}
    for variant in ["official-code", "prospective"]:
        before, _ = predict_updates(series, variant, window, accuracy, 1.7, 100)
        after, _ = predict_updates(series, variant, window, final_moved, 1.7, 100)
        for module in before:
            assert torch.equal(product(before[module]), product(after[module])), variant
    moved, _ = predict_updates(series, "paper", window, final_moved, 1.0)
    rescaled, _ = predict_updates(series, "paper", window, accuracy, 0.8)
    unmoved, _ = predict_updates(series, "paper", window, accuracy, 1.0)
    for module in PLANTED:
        assert torch.allclose(product(moved[module]), product(rescaled[module]), rtol=1e-9)
        assert not torch.allclose(product(moved[module]), product(unmoved[module]), rtol=1e-3)
    # What the prediction files say they read.
    path = tmp_path / "series.safetensors"
    save_series(path, series)
    infos = {
        variant: predict(path, accuracy, 0.4, tmp_path / f"{variant}.safetensors", variant)
        for variant in ["paper", "official-code", "prospective"]
    }
    for info in infos.values():
        assert info["checkpoints_read"] == window and info["checkpoints_read_after_window"] == []
    assert infos["paper"]["accuracies_read_after_window"] == [100]
    assert infos["official-code"]["accuracies_read"] == window
    assert infos["official-code"]["accuracies_read_after_window"] == []
    assert infos["prospective"]["accuracies_read"] == []


@pytest.mark.parametrize("variant", ["paper", "official-code"])
@pytest.mark.parametrize("alignment", ["backward", "forward"])
def test_aligning_over_the_whole_run_gives_the_window_only_prediction(variant, alignment):
    """The released code aligns signs backward from the run's last checkpoint: chained step to
    step, that differs from aligning the window alone by one global sign, which û and v1 share."""
    from rldynamics.alpharl.predict import VARIANTS
    from rldynamics.dynamics.trajectories import aligned_trajectories, fit_linear

    series, accuracy, _ = planted_series()
    window = window_steps(STEPS, 0.4)
    target = 1.0 if variant == "paper" else 1.7
    y = np.array([accuracy[t] for t in window])
    y = y / accuracy[100] if variant == "paper" else y
    whole = aligned_trajectories(series, VARIANTS[variant]["form"], alignment)
    ours, _ = predict_updates(series, variant, window, accuracy, target)
    for module, (X, V) in whole.items():
        rows = [STEPS.index(t) for t in window]
        fit = fit_linear(X[rows].double().numpy(), y, module)
        released = torch.outer(torch.from_numpy(fit.predict_x(target)), V[rows[-1]].double())
        assert torch.allclose(product(ours[module]), released, rtol=1e-9, atol=1e-12), module


def released_official_code(U1, S1, V1, y, target):
    """The released AlphaPLS / AlphaPredVector arithmetic in plain float64 linear algebra:
    σ1·u1 rows with signs chained backward (v1 flips with u1), standardized; one PLS weight
    w ∝ Xsᵀy; score z = Xs·w; OLS y = a·z + b; z* = (y* − b)/a; x̂ = x̄ + z*·(loading ⊙ σx)
    with loading Xsᵀz/(zᵀz); ΔŴ = x̂ v1ᵀ of the last window checkpoint."""
    U, V = U1.copy(), V1.copy()
    for t in range(len(U) - 2, -1, -1):
        if U[t] @ U[t + 1] < 0:
            U[t], V[t] = -U[t], -V[t]
    X = U * S1[:, None]
    mean, std = X.mean(axis=0), X.std(axis=0, ddof=1)
    std[std == 0] = 1.0
    Xs = (X - mean) / std
    w = Xs.T @ (y - y.mean())
    w /= np.linalg.norm(w)
    z = Xs @ w
    design = np.stack([z, np.ones_like(z)], axis=1)
    a, b = np.linalg.solve(design.T @ design, design.T @ y)
    loading = Xs.T @ z / (z @ z)
    x_hat = mean + (target - b) / a * loading * std
    return np.outer(x_hat, V[-1])


def test_official_code_prediction_matches_an_independent_float64_computation(tmp_path):
    """From the window's factors and the MATH-500 pass@4 signal, through the command line and
    the in-memory model of the scoring job, against the arithmetic written out above."""
    import pandas as pd

    from rldynamics.cli import main
    from rldynamics.evaluate.job import ModelEntry
    from rldynamics.evaluate.scoring import RESULT_COLUMNS, model_tensors

    series, _, _ = planted_series()
    save_series(tmp_path / "series.safetensors", series)
    gen = np.random.default_rng(3)
    pass4 = {t: 0.3 + 0.004 * t + 0.02 * gen.standard_normal() for t in STEPS}
    rows = []
    for t in STEPS:  # acc and another benchmark differ from the signal: using them would show
        for bench, metric, value in [
            ("math500", "pass@4", pass4[t]),
            ("math500", "acc", 0.5 * pass4[t] + 0.1 * gen.random()),
            ("gsm8k", "acc", gen.random()),
        ]:
            rows.append(
                dict(
                    run="r",
                    model_kind="checkpoint",
                    step=t,
                    k=None,
                    lam=None,
                    variant=None,
                    benchmark=bench,
                    metric=metric,
                    value=value,
                    n=500,
                    stderr=0.01,
                )
            )
    pd.DataFrame(rows, columns=RESULT_COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    out = tmp_path / "official-code.safetensors"
    argv = ["alpharl", "--series", str(tmp_path / "series.safetensors")]
    argv += ["--results", str(tmp_path / "results.csv"), "--metric", "math500=pass@4"]
    argv += ["--end-step", "40", "--window-label", "released", "--variant", "official-code"]
    assert main([*argv, "--target", "1.7", "--out", str(out)]) == 0
    factors, meta = load_factors(out)
    assert meta["signal"] == "math500 pass@4" and meta["window"] == "released"
    assert meta["window_steps"] == [10, 20, 30, 40] and meta["dtype"] == "float32"

    window = slice(0, 4)
    y = np.array([pass4[t] for t in STEPS[window]])
    container = {}
    for module in PLANTED + NOISE:
        U1 = series.U1[module][window].double().numpy()
        V1 = series.V1[module][window].double().numpy()
        S1 = series.S1[module][window].double().numpy()
        expected = released_official_code(U1, S1, V1, y, 1.7)
        parts = factors[module]
        ours = ((parts["U"] * parts["S"]) @ parts["V"].T).double().numpy()
        assert np.linalg.norm(ours - expected) <= 1e-5 * np.linalg.norm(expected), module
        container[module] = torch.randn(expected.shape, dtype=torch.float32).bfloat16()

    # The model scored: the window-end checkpoint (bf16 here) + ΔŴ, kept in float32.
    folder = write_model(tmp_path / "step-40", container)
    spec = {"key": "m", "folder": str(folder), "factors": str(out), "rank": "1", "scale": "none"}
    model = ModelEntry.from_spec(spec, "test")
    base = ModelWeights(write_model(tmp_path / "base", container))
    built = model_tensors(model, base, torch.float32)
    rounded = model_tensors(model, base)  # the container's bf16
    for module in PLANTED + NOISE:
        U1 = series.U1[module][window].double().numpy()
        V1 = series.V1[module][window].double().numpy()
        S1 = series.S1[module][window].double().numpy()
        expected = container[module].double().numpy() + released_official_code(U1, S1, V1, y, 1.7)
        assert built[module].dtype == torch.float32
        error = np.linalg.norm(built[module].double().numpy() - expected)
        assert error <= 1e-5 * np.linalg.norm(expected), module
        assert rounded[module].dtype == torch.bfloat16


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


# --- RELEX (arXiv 2605.21468) ----------------------------------------------------------------


def test_relex_extrapolates_a_planted_trajectory_and_reads_only_its_window(tmp_path):
    from rldynamics.alpharl.relex import relex_updates

    gen = torch.Generator().manual_seed(0)
    name = "model.layers.0.mlp.up_proj.weight"
    w0 = torch.randn(6, 4, generator=gen)
    direction = torch.randn(6, 4, generator=gen)
    steps = [10, 20, 30, 40, 50, 60]
    write_model(tmp_path / "base", {name: w0})
    for t in steps:  # linear along one direction of the flattened weights, full-rank as a matrix
        write_model(tmp_path / "run" / f"step-{t}", {name: w0 + (0.5 + 0.01 * t) * direction})
    checkpoints = {t: tmp_path / "run" / f"step-{t}" for t in steps}
    window = [10, 20, 30]
    update = relex_updates(tmp_path / "base", checkpoints, window, [name], 60)[name]
    assert torch.allclose(update, (0.5 + 0.6) * direction, atol=1e-4)
    assert torch.linalg.matrix_rank(update) == 4  # rank 1 over time, not per matrix
    # a checkpoint after the window changed: the prediction is the same
    write_model(checkpoints[60], {name: w0 + 100 * torch.randn(6, 4, generator=gen)})
    again = relex_updates(tmp_path / "base", checkpoints, window, [name], 60)[name]
    assert torch.equal(update, again)


def test_relex_matches_the_released_codes_svd_fit_when_every_step_is_saved(tmp_path):
    """With one checkpoint per step the line in the step is the released code's line in the
    checkpoint index: compare against an independent numpy computation of its method."""
    from rldynamics.alpharl.relex import relex_updates

    gen = np.random.default_rng(1)
    name = "model.layers.0.self_attn.q_proj.weight"
    w0 = gen.normal(size=(5, 7)).astype(np.float32)
    steps = list(range(1, 9))
    deltas = {
        t: (t * gen.normal(size=(5, 7)) * 0.1 + gen.normal(size=(5, 7))).astype(np.float32)
        for t in steps
    }
    write_model(tmp_path / "base", {name: torch.from_numpy(w0)})
    for t in steps:
        write_model(tmp_path / f"step-{t}", {name: torch.from_numpy(w0 + deltas[t])})
    window, target = steps[:5], 20
    ours = relex_updates(
        tmp_path / "base", {t: tmp_path / f"step-{t}" for t in steps}, window, [name], target
    )[name]
    M = np.stack([deltas[t].ravel() for t in window]).astype(np.float64)
    _, _, vt = np.linalg.svd(M, full_matrices=False)
    v = vt[0]
    c = M @ v
    t = np.arange(len(window), dtype=np.float64)  # the released code's index
    slope = ((t - t.mean()) @ (c - c.mean())) / ((t - t.mean()) @ (t - t.mean()))
    target_index = len(window) - 1 + (target - window[-1])
    released = (c.mean() + (target_index - t.mean()) * slope) * v
    assert np.allclose(ours.numpy().ravel(), released, atol=1e-4)


def series_of(base: dict, checkpoints: dict[int, dict]) -> Series:
    """The rank-1 series of planted checkpoints (top singular triplet of each ΔW_t)."""
    U1, V1, S1, fro = {}, {}, {}, {}
    for name, w0 in base.items():
        parts = [torch.linalg.svd(checkpoints[t][name] - w0) for t in sorted(checkpoints)]
        U1[name] = torch.stack([u[:, 0] for u, _, _ in parts])
        V1[name] = torch.stack([vh[0] for _, _, vh in parts])
        S1[name] = torch.stack([s[0] for _, s, _ in parts])
        fro[name] = torch.stack([torch.linalg.norm(s) for _, s, _ in parts])
    return Series(sorted(checkpoints), U1, V1, S1, fro)


def test_relex_prediction_file_is_added_at_full_rank(tmp_path):
    from rldynamics.evaluate.recipes import rank_k_weights

    gen = torch.Generator().manual_seed(2)
    name = "model.layers.0.mlp.down_proj.weight"
    base = {name: torch.randn(4, 6, generator=gen)}
    direction = torch.randn(4, 6, generator=gen)
    steps = [5, 10, 15, 20]
    run = {t: {name: base[name] + 0.1 * t * direction} for t in steps}
    write_model(tmp_path / "base", base)
    for t in steps:
        write_model(tmp_path / "run" / f"checkpoint-{t}", run[t])  # TRL's layout
    save_series(tmp_path / "series.safetensors", series_of(base, run))
    info = predict(
        tmp_path / "series.safetensors",
        None,
        0.5,
        tmp_path / "relex.safetensors",
        "relex",
        target_step=20,
        base=tmp_path / "base",
        checkpoints=tmp_path / "run",
    )
    assert info["rank"] == "full" and info["window_steps"] == [5, 10]
    assert info["checkpoints_read"] == [5, 10] and info["accuracies_read"] == []
    model = rank_k_weights(
        ModelWeights(tmp_path / "base"), tmp_path / "relex.safetensors", "full", scale="none"
    )
    assert torch.allclose(model[name], run[20][name], atol=1e-4)
    with pytest.raises(InputError, match="relex.*base"):
        predict(tmp_path / "series.safetensors", None, 0.5, tmp_path / "x.safetensors", "relex")


def test_every_window_of_a_variant_in_one_process_gives_the_files_of_one_process_each(
    tmp_path, capsys
):
    """--each-window (the rule's one job per variant) writes what separate calls would."""
    from safetensors.torch import load_file

    from rldynamics.cli import main

    series, _, _ = planted_series()
    save_series(tmp_path / "series.safetensors", series)
    argv = ["alpharl", "--series", str(tmp_path / "series.safetensors")]
    argv += ["--variant", "prospective", "--target-step", "100"]
    one = [tmp_path / "one-a.safetensors", tmp_path / "one-b.safetensors"]
    assert main([*argv, "--fraction", "0.3", "--window-label", "a", "--out", str(one[0])]) == 0
    assert main([*argv, "--end-step", "60", "--window-label", "b", "--out", str(one[1])]) == 0
    both = [tmp_path / "both-a.safetensors", tmp_path / "both-b.safetensors"]
    specs = [f"a:fraction:0.3:{both[0]}", f"b:end-step:60:{both[1]}"]
    assert main([*argv, *(arg for s in specs for arg in ("--each-window", s))]) == 0
    for single, batched in zip(one, both):
        assert load_factors(single)[1] == load_factors(batched)[1]
        left, right = load_file(single), load_file(batched)
        assert left.keys() == right.keys()
        assert all(torch.equal(left[k], right[k]) for k in left)
    capsys.readouterr()
    bad = [*argv, "--each-window", "a:halfway:0.3:x.safetensors"]
    assert main(bad) == 2 and "a:halfway:0.3:x.safetensors" in capsys.readouterr().err
    assert main([*argv, "--fraction", "0.3"]) == 2 and "--out" in capsys.readouterr().err
