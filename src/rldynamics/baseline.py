"""The peer baseline: whole-weight linear extrapolation (RLVR-Linearity, arXiv 2601.04537).

W(T) = W_B + α (W_S − W_B), α = (T − B)/(S − B), for every tensor, from two checkpoints B < S
of the window; norm tensors are copied from W_S, as the peer's code does.
"""

from __future__ import annotations

import re

from rldynamics.errors import InputError
from rldynamics.io import ModelWeights

NORM_TENSOR = re.compile(r"norm")


def extrapolation_factor(start_step: int, end_step: int, target_step: int) -> float:
    if end_step <= start_step:
        raise InputError(f"extrapolation needs two steps B < S, got B={start_step}, S={end_step}")
    return (target_step - start_step) / (end_step - start_step)


def extrapolated_weights(start: ModelWeights, end: ModelWeights, alpha: float) -> dict:
    """Every tensor of W_B + α (W_S − W_B) (norms: W_S), in the checkpoints' dtype."""
    if set(start.names()) != set(end.names()):
        extra = sorted(set(start.names()) ^ set(end.names()))[:3]
        raise InputError(f"{start.folder} and {end.folder} hold different tensors: {extra}")
    out = {}
    for name in end.names():
        w_end = end.get(name)
        if NORM_TENSOR.search(name):
            out[name] = w_end
            continue
        w_start = start.get(name)
        if w_start.shape != w_end.shape:
            raise InputError(
                f"tensor {name!r}: shapes differ between {start.folder} and {end.folder}"
            )
        value = w_start.float() + alpha * (w_end.float() - w_start.float())
        out[name] = value.to(w_end.dtype)
    return out
