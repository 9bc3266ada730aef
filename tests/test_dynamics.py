import numpy as np
import pytest
import torch

from rldynamics.core.errors import InputError
from rldynamics.dynamics.trajectories import align_signs, fit_linear, trajectory


def test_r2_of_an_exactly_linear_trajectory_is_one():
    rng = np.random.default_rng(0)
    start, direction = rng.normal(size=50), rng.normal(size=50)
    t = np.arange(1, 9, dtype=float)
    X = start + t[:, None] * direction
    y = 0.3 + 0.05 * t
    assert fit_linear(X, y).r2 == pytest.approx(1.0, abs=1e-9)


def test_r2_is_low_when_accuracy_is_unrelated_to_a_linear_trajectory():
    t = np.arange(8, dtype=float)
    X = np.outer(t, np.ones(5))
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1], dtype=float)
    assert fit_linear(X, y).r2 < 0.2


@pytest.mark.parametrize("direction", ["backward", "forward"])
def test_sign_alignment_is_invariant_to_flipping_inputs(direction):
    gen = torch.Generator().manual_seed(0)
    base = torch.nn.functional.normalize(torch.randn(30, generator=gen), dim=0)
    U = torch.stack([base + 0.1 * torch.randn(30, generator=gen) for _ in range(7)])
    flips = torch.tensor([1.0, -1, -1, 1, -1, 1, -1])[:, None]
    aligned = U * align_signs(U, direction)[:, None]
    flipped = U * flips
    aligned_flipped = flipped * align_signs(flipped, direction)[:, None]
    # Identical up to the one sign that the anchor (first or last checkpoint) fixes.
    anchor = -1 if direction == "backward" else 0
    assert torch.allclose(aligned_flipped, aligned * flips[anchor])
    dots = (aligned[1:] * aligned[:-1]).sum(dim=1)
    assert (dots > 0).all()


def test_trajectory_forms():
    U1 = torch.eye(3)
    S1, fro = torch.tensor([1.0, 2, 3]), torch.tensor([2.0, 4, 6])
    assert torch.equal(trajectory(U1, S1, fro, "fro-u1"), torch.diag(fro))
    assert torch.equal(trajectory(U1, S1, fro, "sigma1-u1"), torch.diag(S1))
    assert torch.equal(trajectory(U1, S1, fro, "u1"), U1)


@pytest.mark.parametrize(
    "old, new", [("paper", "fro-u1"), ("official-code", "sigma1-u1"), ("u", "'u1'")]
)
def test_old_form_names_are_refused_naming_the_new_one(old, new):
    U1 = torch.eye(3)
    with pytest.raises(InputError, match=f"{old!r} was renamed.*{new}"):
        trajectory(U1, torch.ones(3), torch.ones(3), old)
    with pytest.raises(InputError, match="must be one of"):
        trajectory(U1, torch.ones(3), torch.ones(3), "sigma")


def test_fit_needs_two_points_and_varying_accuracy():
    with pytest.raises(InputError, match="at least two"):
        fit_linear(np.ones((1, 3)), np.ones(1), "m")
    with pytest.raises(InputError, match="constant"):
        fit_linear(np.random.default_rng(0).normal(size=(4, 3)), np.full(4, 0.5), "m")
    X = np.random.default_rng(0).normal(size=(4, 3))
    X[2, 1] = np.nan  # scikit-learn's own check is off in the fit: ours names the module
    with pytest.raises(InputError, match="m: the trajectory or the accuracies hold NaN"):
        fit_linear(X, np.arange(4.0), "m")
    with pytest.raises(InputError, match="NaN or infinity"):
        fit_linear(np.ones((4, 3)) + np.eye(4, 3), np.array([0, 1, np.inf, 2]), "m")


def test_linearity_marks_constant_accuracy_as_undefined():
    from rldynamics.dynamics.linearity import linearity_table
    from rldynamics.dynamics.trajectories import Series

    name = "model.layers.0.mlp.up_proj.weight"
    U = torch.nn.functional.normalize(torch.arange(1.0, 13).reshape(4, 3), dim=1)
    series = Series(
        [1, 2, 3, 4], {name: U}, {name: U}, {name: torch.ones(4)}, {name: torch.ones(4)}
    )
    table, _ = linearity_table(series, dict.fromkeys(range(1, 5), 0.0), control_draws=3)
    assert table["r2"].isna().all() and set(table["type"]) == {"up_proj"}
    assert len(table) == 6  # three forms × two alignments
