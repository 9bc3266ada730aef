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

from pathlib import Path

import torch
from safetensors.torch import save_file

from rldynamics.errors import InputError
from rldynamics.factors import parse_rank
from rldynamics.io import ModelWeights, atomic_path, copy_side_files, load_factors
from rldynamics.io import progress as progress_bar

SCALES = ("frobenius", "none")
RESTS = ("base", "rl")


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
    k = parse_rank(rank)
    base = ModelWeights(base_dir)
    factors, meta = load_factors(factors_path)
    missing = [p for p in factors if p not in base.files]
    if missing:
        raise InputError(f"{factors_path}: parameters not in base {base_dir}: {missing[:3]}")
    rl = rl_checkpoint_for(factors_path, meta, checkpoint) if rest == "rl" else None
    tensors: dict[str, torch.Tensor] = {}
    counts = {"rank-k": 0, "base": 0, "rl": 0}
    for name in progress_bar(base.names(), f"build rank {rank}", not progress):
        w0 = base.get(name)
        if name in factors:
            parts = factors[name]
            if (parts["U"].shape[0], parts["V"].shape[0]) != tuple(w0.shape):
                raise InputError(
                    f"{factors_path}: factors of {name!r} have shape "
                    f"{(parts['U'].shape[0], parts['V'].shape[0])}, base has {tuple(w0.shape)}"
                )
            w0 = (w0.float() + rank_k_update(parts, k, scale, lam)).to(w0.dtype)
            counts["rank-k"] += 1
        elif rl is not None and w0.ndim <= 1:
            w1 = rl.get(name)
            if w1.shape != w0.shape:
                raise InputError(
                    f"tensor {name!r}: shape {tuple(w1.shape)} in {rl.folder} differs from "
                    f"{tuple(w0.shape)} in {base_dir}"
                )
            w0 = w1.to(w0.dtype)
            counts["rl"] += 1
        else:
            counts["base"] += 1
        tensors[name] = w0.contiguous()
    with atomic_path(out, directory=True) as tmp:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        copy_side_files(base_dir, tmp)
    return counts
