"""RELEX: rank-1 extrapolation of the flattened weight trajectory (arXiv 2605.21468).

Its released code (github.com/weizhepei/RELEX, ``scripts/svd_extrapolation.py``, mode
``extrapolate``, ``--rank 1 --fit_method linear``) does, for every weight tensor: stack the
window's flattened deltas M = [θ_t − θ_0]_t (T × d); take the top right singular vector v of M
(through the T × T Gram matrix M Mᵀ, since T ≪ d); fit each checkpoint's coefficient
c_t = M_t · v by least squares as a line in t; and add c_T · v, reshaped, to θ_0. The
extrapolated model is saved in bf16.

Here, the same, with two differences said in the tables: the line is fitted against the
checkpoint *step* (the released code uses the checkpoint's index, which is the step when every
step is saved, as in its runs), and only the matrices this pipeline decomposes are
extrapolated, the same ones as the AlphaRL variants (RELEX also moves embeddings and norms),
so that the variants differ in the method alone. "Rank 1" is over time: c_T · v is one
direction of the d = m·n weights, as a matrix generally full-rank; it is written as its full
SVD in an ordinary factor file and added at rank 'full'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rldynamics.core.errors import InputError
from rldynamics.core.io import ModelWeights


def top_direction(deltas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(v [d], c [T]) of M [T, d]: its top right singular vector and M·v, by the Gram matrix."""
    gram = (deltas @ deltas.T).double()
    values, vectors = torch.linalg.eigh(gram)
    top = float(values[-1])
    if top <= 0:  # the matrix never moved in the window
        return torch.zeros(deltas.shape[1]), torch.zeros(deltas.shape[0])
    direction = (deltas.double().T @ vectors[:, -1]) / top**0.5
    return direction.float(), (deltas.double() @ direction.double()).float()


def line_at(values: torch.Tensor, steps: list[int], target_step: float) -> float:
    """The least-squares line through (step, value) evaluated at ``target_step``."""
    t = np.asarray(steps, dtype=np.float64)
    y = values.double().numpy()
    slope = ((t - t.mean()) @ (y - y.mean())) / ((t - t.mean()) @ (t - t.mean()))
    return float(y.mean() + (target_step - t.mean()) * slope)


def relex_updates(
    base_dir: str | Path,
    checkpoints: dict[int, Path],
    window: list[int],
    names: list[str],
    target_step: float,
) -> dict[str, torch.Tensor]:
    """{matrix: ΔŴ at ``target_step``} from the window's checkpoints (steps → folders)."""
    missing = [s for s in window if s not in checkpoints]
    if missing:
        raise InputError(f"RELEX: no checkpoint folder for window steps {missing}")
    if len(window) < 2:
        raise InputError(f"RELEX: the window {window} holds fewer than two checkpoints")
    base = ModelWeights(base_dir)
    models = [ModelWeights(checkpoints[s]) for s in window]
    updates = {}
    for name in names:
        w0 = base.get(name).float()
        rows = []
        for step, model in zip(window, models):
            w = model.get(name).float()
            if w.shape != w0.shape:
                raise InputError(
                    f"RELEX: {name!r} has shape {tuple(w.shape)} in {model.folder} (step {step}), "
                    f"{tuple(w0.shape)} in the base {base_dir}"
                )
            rows.append((w - w0).flatten())
        direction, coefficients = top_direction(torch.stack(rows))
        updates[name] = (line_at(coefficients, window, target_step) * direction).reshape(w0.shape)
    return updates


def as_factors(update: torch.Tensor) -> dict[str, torch.Tensor]:
    """A dense update as the parts of a factor file (its full SVD): U S Vᵀ is the update."""
    U, S, Vh = torch.linalg.svd(update.float(), full_matrices=False)
    return {"U": U.contiguous(), "S": S, "V": Vh.T.contiguous(), "fro": torch.linalg.norm(S)}
