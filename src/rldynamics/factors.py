"""Top singular factors of the RL update ΔW = W_rl − W_base of every selected matrix.

A factor file is a safetensors file with, for each decomposed parameter ``p``:
``p.U`` [m, k], ``p.S`` [k], ``p.V`` [n, k] with ΔW ≈ U diag(S) Vᵀ, and ``p.fro`` = ‖ΔW‖F
(a scalar), all float32, plus metadata (base, checkpoint, rank, method, device, dtype,
version, pattern).

Sign convention: singular vectors are defined up to a joint sign of (u_i, v_i). We make the
entry of largest magnitude of every u_i positive and flip v_i with it, so that factors of
different checkpoints compare without further alignment in the common case.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rldynamics import __version__
from rldynamics.errors import InputError
from rldynamics.io import ModelWeights, save_tensors
from rldynamics.io import progress as progress_bar
from rldynamics.selection import DEFAULT_PARAM_PATTERN, select_params


def parse_rank(rank: str | int) -> int | None:
    """``"full"`` → None (every singular triplet), else a positive int."""
    if isinstance(rank, str) and rank.lower() == "full":
        return None
    try:
        value = int(rank)
    except (TypeError, ValueError) as err:
        raise InputError(f"rank must be a positive integer or 'full', got {rank!r}") from err
    if value < 1:
        raise InputError(f"rank must be a positive integer or 'full', got {rank!r}")
    return value


def canonical_signs(U: torch.Tensor, V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each (u_i, v_i) so that the largest-magnitude entry of u_i is positive."""
    idx = U.abs().argmax(dim=0)
    signs = torch.sign(U[idx, torch.arange(U.shape[1])])
    signs[signs == 0] = 1
    return U * signs, V * signs


def top_factors(delta: torch.Tensor, rank: int | None, name: str = "matrix"):
    """Exact top-``rank`` SVD of a float32 update: (U [m,k], S [k], V [n,k], ‖ΔW‖F)."""
    if delta.ndim != 2:
        raise InputError(f"{name}: expected a 2-D matrix, got shape {tuple(delta.shape)}")
    full = min(delta.shape)
    k = full if rank is None else rank
    if k > full:
        raise InputError(
            f"{name}: rank {k} exceeds the matrix's largest possible rank {full} "
            f"(shape {tuple(delta.shape)})"
        )
    U, S, Vh = torch.linalg.svd(delta, full_matrices=False)
    U, V = canonical_signs(U[:, :k], Vh[:k].T)
    return U.contiguous(), S[:k].contiguous(), V.contiguous(), torch.linalg.norm(delta)


def weight_delta(base: ModelWeights, rl: ModelWeights, name: str) -> torch.Tensor:
    """ΔW = W_rl − W_base in float32, with shape and finiteness checked."""
    w0 = base.get(name)
    w1 = rl.get(name)
    if w0.shape != w1.shape:
        raise InputError(
            f"tensor {name!r}: shape {tuple(w1.shape)} in {rl.folder} differs from "
            f"{tuple(w0.shape)} in {base.folder}"
        )
    for weights, tensor in ((base, w0), (rl, w1)):
        if not torch.isfinite(tensor).all():
            raise InputError(f"tensor {name!r} in {weights.folder} holds NaN or Inf")
    return w1.float() - w0.float()


def decompose(
    base_dir: str | Path,
    checkpoint_dir: str | Path,
    rank: str | int,
    out: str | Path,
    pattern: str = DEFAULT_PARAM_PATTERN,
    progress: bool = True,
) -> dict:
    """Write the factor file of one checkpoint; returns its metadata."""
    k = parse_rank(rank)
    base = ModelWeights(base_dir)
    rl = ModelWeights(checkpoint_dir)
    params = select_params(base.names(), pattern)
    if not params:
        raise InputError(f"{base_dir}: no tensor matches the parameter pattern {pattern!r}")
    tensors: dict[str, torch.Tensor] = {}
    dtypes = set()
    for name in progress_bar(params, f"decompose {Path(checkpoint_dir).name}", not progress):
        dtypes.add(str(rl.get(name).dtype).removeprefix("torch."))
        U, S, V, fro = top_factors(weight_delta(base, rl, name), k, name)
        tensors[f"{name}.U"], tensors[f"{name}.S"] = U, S
        tensors[f"{name}.V"], tensors[f"{name}.fro"] = V, fro
    meta = {
        "base": str(base_dir),
        "checkpoint": str(checkpoint_dir),
        "rank": "full" if k is None else k,
        "method": "exact",
        "device": "cpu",
        "dtype": sorted(dtypes),
        "pattern": pattern,
        "version": __version__,
    }
    save_tensors(out, tensors, meta)
    return meta
