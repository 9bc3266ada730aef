"""Rank-k models (AlphaRL Eq. 3): W(k, λ) = W0 + λ · (‖ΔW‖F / ‖ΔW(k)‖F) · ΔW(k).

``scale="frobenius"`` rescales the truncated update to the whole update's Frobenius norm, as
the released code does; ``scale="none"`` keeps the truncated update as it is. Tensors that are
not decomposed keep the base value (``rest="base"``, the released code's choice).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from rldynamics.errors import InputError
from rldynamics.factors import parse_rank
from rldynamics.io import ModelWeights, atomic_path, copy_side_files, load_factors
from rldynamics.io import progress as progress_bar

SCALES = ("frobenius", "none")
PERCENT_RANK = re.compile(r"^(\d+(?:\.\d+)?)(?:%|pct)$")


def matrix_rank(rank: str | int, shape: tuple[int, int]) -> int | None:
    """k for one matrix: an integer, None for 'full', or p % of min(m, n) (at least 1)."""
    match = PERCENT_RANK.match(str(rank))
    if match:
        return max(1, math.floor(min(shape) * float(match.group(1)) / 100))
    return parse_rank(rank)


def rank_k_update(
    parts: dict[str, torch.Tensor], rank: int | None, scale: str = "frobenius", lam: float = 1.0
) -> torch.Tensor:
    """λ · c · Σ_{i≤k} σi ui viᵀ with c = ‖ΔW‖F/‖ΔW(k)‖F (frobenius) or 1 (none)."""
    if scale not in SCALES:
        raise InputError(f"scale must be one of {SCALES}, got {scale!r}")
    available = parts["S"].shape[0]
    k = available if rank is None else rank
    if k > available:
        raise InputError(f"rank {k} asked for, but the factor file holds only {available}")
    U, S, V = parts["U"][:, :k], parts["S"][:k], parts["V"][:, :k]
    update = (U * S) @ V.T
    if scale == "frobenius":
        # ‖ΔW(k)‖F = sqrt(Σ σi²) since the singular vectors are orthonormal.
        truncated_norm = torch.linalg.norm(S)
        factor = parts["fro"] / truncated_norm if truncated_norm > 0 else torch.tensor(0.0)
        update = update * factor
    return lam * update


def rank_k_weights(
    base: ModelWeights,
    factors_path: str | Path,
    rank: str | int,
    scale: str = "frobenius",
    lam: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The decomposed matrices of W(k, λ), in the base's dtype, read tensor by tensor.

    ``rank``: an integer, 'full', or a percentage of each matrix's min(m, n) ('10%', '10pct').
    """
    matrix_rank(rank, (1, 1))  # validates the rank before any tensor is read
    factors, _ = load_factors(factors_path)
    missing = [p for p in factors if p not in base.files]
    if missing:
        raise InputError(f"{factors_path}: parameters not in base {base.folder}: {missing[:3]}")
    weights = {}
    for name, parts in factors.items():
        w0 = base.get(name)
        if (parts["U"].shape[0], parts["V"].shape[0]) != tuple(w0.shape):
            raise InputError(
                f"{factors_path}: factors of {name!r} have shape "
                f"{(parts['U'].shape[0], parts['V'].shape[0])}, base has {tuple(w0.shape)}"
            )
        k = matrix_rank(rank, tuple(w0.shape))
        weights[name] = (w0.float() + rank_k_update(parts, k, scale, lam)).to(w0.dtype)
    return weights


def build_model(
    base_dir: str | Path,
    factors_path: str | Path,
    rank: str | int,
    out: str | Path,
    scale: str = "frobenius",
    lam: float = 1.0,
    progress: bool = True,
) -> None:
    """Write an HF model folder: base weights with each decomposed matrix replaced."""
    base = ModelWeights(base_dir)
    replaced = rank_k_weights(base, factors_path, rank, scale, lam)
    tensors = {
        name: (replaced[name] if name in replaced else base.get(name)).contiguous()
        for name in progress_bar(base.names(), f"build rank {rank}", not progress)
    }
    with atomic_path(out, directory=True) as tmp:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        copy_side_files(base_dir, tmp)
