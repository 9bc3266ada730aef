"""A (base, checkpoint) pair of one parameter, read as stored and checked.

Both the decomposition (:mod:`rldynamics.factors`) and the parameter metrics
(:mod:`rldynamics.param_metrics`) read their tensors through here, so neither needs the other.
"""

from __future__ import annotations

import torch

from rldynamics.errors import InputError
from rldynamics.io import ModelWeights


def read_pair(base: ModelWeights, rl: ModelWeights, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_base, W_rl) of one parameter as stored, with equal shapes checked."""
    w0 = base.get(name)
    w1 = rl.get(name)
    if w0.shape != w1.shape:
        raise InputError(
            f"tensor {name!r}: shape {tuple(w1.shape)} in {rl.folder} differs from "
            f"{tuple(w0.shape)} in {base.folder}"
        )
    return w0, w1


def check_pair_finite(base: ModelWeights, rl: ModelWeights, w0, w1, name: str) -> None:
    """Name the folder whose tensor ``name`` holds NaN or Inf."""
    for weights, tensor in ((base, w0), (rl, w1)):
        if not bool(torch.isfinite(tensor).all()):
            raise InputError(f"tensor {name!r} in {weights.folder} holds NaN or Inf")
