"""Rank-k models (AlphaRL Eq. 3): W(k, λ) = W0 + λ · (‖ΔW‖F / ‖ΔW(k)‖F) · ΔW(k).

``scale="frobenius"`` rescales the truncated update to the whole update's Frobenius norm, as
the released code does; ``scale="none"`` keeps the truncated update as it is.

Tensors that are not decomposed (METHOD §2): ``rest="base"`` keeps the base value of every one
of them (the released code); ``rest="rl"`` takes the 1-D ones (norms, biases) from the RL
checkpoint, as another reproduction does, while the other 2-D tensors that are not decomposed
(embeddings, lm_head) keep the base value. ``rest="rl"`` needs the RL checkpoint folder: the
factor file's metadata records it (``checkpoint``), or it is given explicitly.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from rldynamics.errors import InputError
from rldynamics.factors import parse_rank
from rldynamics.io import ModelWeights, atomic_path, copy_side_files, load_factors
from rldynamics.io import progress as progress_bar

SCALES = ("frobenius", "none")
RESTS = ("base", "rl")
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


def rl_checkpoint_for(factors_path, meta: dict, checkpoint: str | Path | None) -> ModelWeights:
    """The RL checkpoint that ``rest="rl"`` reads: given, or recorded in the factor file."""
    folder = checkpoint or meta.get("checkpoint")
    if not folder:
        raise InputError(
            f"{factors_path}: rest 'rl' needs the RL checkpoint, but the factor file records none "
            "(metadata 'checkpoint'); give it with --checkpoint"
        )
    if not Path(folder).is_dir():
        where = "given" if checkpoint else f"recorded in {factors_path}"
        raise InputError(f"rest 'rl': the RL checkpoint folder {folder} ({where}) is not found")
    return ModelWeights(folder)


def rank_k_weights(
    base: ModelWeights,
    factors_path: str | Path,
    rank: str | int,
    scale: str = "frobenius",
    lam: float = 1.0,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """The decomposed matrices of W(k, λ), read tensor by tensor, formed in float32 and
    returned in ``dtype`` (default the base's own).

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
        weights[name] = (w0.float() + rank_k_update(parts, k, scale, lam)).to(dtype or w0.dtype)
    return weights


def rest_weights(base: ModelWeights, rl: ModelWeights, skip) -> dict[str, torch.Tensor]:
    """``rest="rl"``: the 1-D tensors (norms, biases) that are not decomposed, from the RL model."""
    out = {}
    for name in base.names():
        if name in skip:
            continue
        w0 = base.get(name)
        if w0.ndim > 1:
            continue
        w1 = rl.get(name)
        if w1.shape != w0.shape:
            raise InputError(
                f"tensor {name!r}: shape {tuple(w1.shape)} in {rl.folder} differs from "
                f"{tuple(w0.shape)} in {base.folder}"
            )
        out[name] = w1.to(w0.dtype)
    return out


def build_model(
    base_dir: str | Path,
    factors_path: str | Path,
    rank: str | int,
    out: str | Path,
    scale: str = "frobenius",
    lam: float = 1.0,
    progress: bool = True,
    rest: str = "base",
    checkpoint: str | Path | None = None,
) -> dict:
    """Write an HF model folder: base weights with each decomposed matrix replaced.

    Returns counts of what each tensor was made of (rank-k, base, rl).
    """
    if rest not in RESTS:
        raise InputError(f"rest must be one of {RESTS}, got {rest!r}")
    base = ModelWeights(base_dir)
    replaced = rank_k_weights(base, factors_path, rank, scale, lam)
    with safe_open(str(factors_path), framework="pt") as handle:
        meta = handle.metadata() or {}
    rl = rl_checkpoint_for(factors_path, meta, checkpoint) if rest == "rl" else None
    from_rl = rest_weights(base, rl, replaced) if rl is not None else {}
    tensors: dict[str, torch.Tensor] = {}
    counts = {"rank-k": len(replaced), "base": 0, "rl": len(from_rl)}
    for name in progress_bar(base.names(), f"build rank {rank}", not progress):
        if name in replaced:
            tensors[name] = replaced[name].contiguous()
        elif name in from_rl:
            tensors[name] = from_rl[name].contiguous()
        else:
            tensors[name] = base.get(name).contiguous()
            counts["base"] += 1
    with atomic_path(out, directory=True) as tmp:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        copy_side_files(base_dir, tmp)
    return counts
