import pytest
import torch

from rldynamics.alpharl import predict
from rldynamics.dynamics import save_trajectories
from rldynamics.errors import InputError
from rldynamics.io import load_factors
from rldynamics.windows import window_steps


def planted_series(tmp_path, noise=0.0):
    """x_t = t·d (+ noise) for every module; accuracy grows linearly with t."""
    gen = torch.Generator().manual_seed(0)
    steps = list(range(10, 110, 10))
    trajectories, directions = {}, {}
    for module in ["model.layers.0.mlp.up_proj.weight", "model.layers.0.self_attn.q_proj.weight"]:
        d = torch.randn(16, generator=gen)
        v = torch.nn.functional.normalize(torch.randn(9, generator=gen), dim=0)
        X = torch.stack([t * d + noise * torch.randn(16, generator=gen) for t in steps])
        trajectories[module] = (X, v.repeat(len(steps), 1))
        directions[module] = (d, v)
    path = tmp_path / "traj.safetensors"
    save_trajectories(path, trajectories, steps, "paper", "backward")
    accuracy = {t: 0.2 + 0.006 * t for t in steps}
    return path, steps, accuracy, directions


def test_paper_variant_extrapolates_a_linear_series_to_the_final_step(tmp_path):
    path, steps, accuracy, directions = planted_series(tmp_path)
    info = predict(path, accuracy, 0.4, tmp_path / "pred.safetensors")
    assert info["window_steps"] == [10, 20, 30, 40]
    assert info["reads_checkpoints_after_window"] == steps[4:]
    factors, _ = load_factors(tmp_path / "pred.safetensors")
    for module, (d, v) in directions.items():
        parts = factors[module]
        predicted = parts["U"][:, 0] * parts["S"][0]
        assert torch.allclose(predicted, 100 * d, rtol=1e-4, atol=1e-4)
        assert torch.allclose(parts["V"][:, 0], v)


def test_window_needs_two_checkpoints():
    assert window_steps([10, 20, 30, 40], 0.5) == [10, 20]
    with pytest.raises(InputError, match="at least two"):
        window_steps([10, 20, 30, 40], 0.3)


def test_unknown_variant_is_refused(tmp_path):
    path, _, accuracy, _ = planted_series(tmp_path)
    with pytest.raises(InputError, match="variant"):
        predict(path, accuracy, 0.4, tmp_path / "p.safetensors", variant="magic")
