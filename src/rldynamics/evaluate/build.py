"""Rank-k models written as HF model folders (``rldynamics build``).

The arithmetic (AlphaRL Eq. 3, W(k, λ) = W0 + λ · (‖ΔW‖F / ‖ΔW(k)‖F) · ΔW(k), and where the
tensors that are not decomposed come from) lives in :mod:`rldynamics.evaluate.recipes`, which the
scoring backends use too; this module only writes its tensors to a folder.
"""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import save_file

from rldynamics.core.io import ModelWeights, atomic_path, copy_side_files, load_factors
from rldynamics.core.io import progress as progress_bar
from rldynamics.evaluate.recipes import RankKModel, rank_k_parts, rl_checkpoint_for


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
    rest_from = None
    if rest == "rl":  # the RL checkpoint: given, or recorded in the factor file's metadata
        _, meta = load_factors(factors_path)
        rest_from = str(rl_checkpoint_for(factors_path, meta, checkpoint))
    recipe = RankKModel(
        base=str(base_dir),
        factors=str(factors_path),
        rank=str(rank),
        scale=scale,
        lam=float(lam),
        rest=rest,
        rest_from=rest_from,
    )
    base = ModelWeights(base_dir)
    _, replaced, from_rl = rank_k_parts(recipe, base)
    tensors = {}
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
