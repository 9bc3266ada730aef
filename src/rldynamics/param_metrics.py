"""The Path Not Taken parameter metrics (METHOD §7), per decomposed matrix and checkpoint.

For a base matrix W0 and its RL checkpoint value Wt (each as stored, compared in float32):

- ``update_sparsity``: share of entries left unchanged, an entry being unchanged iff
  |ŵ − w| ≤ η·max(|w|, |ŵ|) (η = 1e-3: about bitwise equality in bf16);
- ``principal_angle_{left,right}_max_deg``: the largest principal angle, in degrees, between
  the top-k left (right) singular subspaces of W0 and Wt, for each k of a list;
- ``spectral_shift_nss``: ‖σ(Wt) − σ(W0)‖₂ / ‖σ(W0)‖₂ over all singular values;
- ``changed_in_principal_mask`` / ``changed_in_low_magnitude_mask``: share of the changed
  entries that lie in M_princ (top-α fraction of |rank-k reconstruction of W0|) or in M_low
  (bottom-α fraction of |W0|), with ``mask_random_baseline`` = α, the share a mask of α·n
  entries would catch if the changed entries were placed at random.

Each function works on tensors and is tested on small matrices with known answers;
:func:`matrix_metrics` computes them all for one matrix from one SVD of each weight.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from rldynamics.errors import InputError
from rldynamics.selection import module_kind
from rldynamics.settings import MetricSettings

TABLE_COLUMNS = ["run", "step", "param", "layer", "type", "rows", "cols", "metric", "k", "value"]


def changed_mask(w0: torch.Tensor, w1: torch.Tensor, eta: float = 1e-3) -> torch.Tensor:
    """True where |ŵ − w| > η·max(|w|, |ŵ|), compared in float32."""
    a, b = w0.float(), w1.float()
    return (b - a).abs() > eta * torch.maximum(a.abs(), b.abs())


def update_sparsity(w0: torch.Tensor, w1: torch.Tensor, eta: float = 1e-3) -> float:
    """1 − changed / n: the share of entries the update left unchanged."""
    changed = changed_mask(w0, w1, eta)
    return 1.0 - float(changed.sum()) / changed.numel()


def largest_principal_angle(Q0: torch.Tensor, Q1: torch.Tensor) -> float:
    """Largest principal angle (radians) between span(Q0) and span(Q1), both orthonormal [m, k].

    cos θ_max = σ_min(Q0ᵀ Q1) and sin θ_max = σ_max(Q1 − Q0 Q0ᵀ Q1); atan2 of the two is
    accurate for small and large angles alike (float64).
    """
    if Q0.shape != Q1.shape:
        raise InputError(f"principal angles need bases of equal shape, got {Q0.shape}, {Q1.shape}")
    a, b = Q0.double(), Q1.double()
    overlap = a.T @ b
    cos_min = float(torch.linalg.svdvals(overlap).min().clamp(0, 1))
    sin_max = float(torch.linalg.svdvals(b - a @ overlap).max().clamp(0, 1))
    return math.atan2(sin_max, cos_min)


def normalized_spectral_shift(s0: torch.Tensor, s1: torch.Tensor) -> float:
    """NSS = ‖σ(Wt) − σ(W0)‖₂ / ‖σ(W0)‖₂ (NaN when W0 is zero)."""
    s0, s1 = s0.double(), s1.double()
    norm = float(torch.linalg.vector_norm(s0))
    return float(torch.linalg.vector_norm(s1 - s0)) / norm if norm > 0 else float("nan")


def top_fraction_mask(scores: torch.Tensor, fraction: float, largest: bool = True) -> torch.Tensor:
    """Boolean mask of the round(fraction·n) (at least 1) largest (or smallest) scores."""
    flat = scores.reshape(-1)
    count = max(1, round(fraction * flat.numel()))
    idx = torch.topk(flat, count, largest=largest).indices
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=scores.device)
    mask[idx] = True
    return mask.reshape(scores.shape)


def principal_mask(
    U0: torch.Tensor, S0: torch.Tensor, V0: torch.Tensor, rank: int, fraction: float
) -> torch.Tensor:
    """M_princ: top-α fraction of the entries of |rank-k reconstruction of W0|."""
    k = min(rank, S0.numel())
    recon = (U0[:, :k] * S0[:k]) @ V0[:, :k].T
    return top_fraction_mask(recon.abs(), fraction, largest=True)


def low_magnitude_mask(w0: torch.Tensor, fraction: float) -> torch.Tensor:
    """M_low: bottom-α fraction of the entries of |W0|."""
    return top_fraction_mask(w0.float().abs(), fraction, largest=False)


def mask_overlap(changed: torch.Tensor, mask: torch.Tensor) -> float:
    """|changed ∩ mask| / |changed|: the share of changed entries inside the mask (NaN if none)."""
    total = int(changed.sum())
    return float((changed & mask).sum()) / total if total else float("nan")


def _svd(w: torch.Tensor):
    """Full thin SVD of a float32 matrix (through the transpose when wide): U, S, V."""
    if w.shape[0] < w.shape[1]:
        Ut, S, Vht = torch.linalg.svd(w.T, full_matrices=False)
        return Vht.T, S, Ut
    U, S, Vh = torch.linalg.svd(w, full_matrices=False)
    return U, S, Vh.T


def matrix_metrics(
    w0: torch.Tensor, w1: torch.Tensor, settings: MetricSettings, name: str = "matrix"
) -> list[dict]:
    """Every metric of one matrix as tidy rows {param, metric, k, value} (k empty if none).

    Principal angles for a k above min(m, n) are left out (the subspaces are the whole space).
    Computed on the device of ``w0``; one full SVD of W0 and one of Wt.
    """
    if w0.shape != w1.shape or w0.ndim != 2:
        raise InputError(f"{name}: metrics need two 2-D matrices of one shape")
    a, b = w0.float(), w1.float()
    full = min(a.shape)
    changed = changed_mask(a, b, settings.eta)
    rows = [{"metric": "update_sparsity", "k": None, "value": 1.0 - float(changed.float().mean())}]
    U0, S0, V0 = _svd(a)
    U1, S1, V1 = _svd(b)
    for k in sorted(set(int(k) for k in settings.angle_ranks)):
        if k > full:
            continue
        for side, (P0, P1) in (("left", (U0, U1)), ("right", (V0, V1))):
            angle = math.degrees(largest_principal_angle(P0[:, :k], P1[:, :k]))
            rows.append({"metric": f"principal_angle_{side}_max_deg", "k": k, "value": angle})
    rows.append(
        {"metric": "spectral_shift_nss", "k": None, "value": normalized_spectral_shift(S0, S1)}
    )
    mask_rank = min(settings.mask_rank, full)
    alpha = settings.mask_fraction
    rows += [
        {
            "metric": "changed_in_principal_mask",
            "k": mask_rank,
            "value": mask_overlap(changed, principal_mask(U0, S0, V0, mask_rank, alpha)),
        },
        {
            "metric": "changed_in_low_magnitude_mask",
            "k": None,
            "value": mask_overlap(changed, low_magnitude_mask(a, alpha)),
        },
        {"metric": "mask_random_baseline", "k": None, "value": alpha},
    ]
    layer, kind = module_kind(name)
    for row in rows:
        row.update(param=name, layer=layer, type=kind, rows=a.shape[0], cols=a.shape[1])
    return rows


def metrics_frame(rows: list[dict], run: str | None, step: int | None) -> pd.DataFrame:
    """The tidy table of one checkpoint: one row per (param, metric, k)."""
    frame = pd.DataFrame(rows)
    frame["run"] = run
    frame["step"] = step
    frame["k"] = frame["k"].astype("Int64")
    frame["layer"] = frame["layer"].astype("Int64")
    return frame[TABLE_COLUMNS]


def concat_tables(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One table from the per-checkpoint tables, ordered by step, parameter, metric, k."""
    frames = [f for f in frames if len(f)]
    if not frames:
        raise InputError("no parameter-metric rows to gather")
    table = pd.concat(frames, ignore_index=True)
    missing = set(TABLE_COLUMNS) - set(table.columns)
    if missing:
        raise InputError(f"parameter-metric tables lack columns {sorted(missing)}")
    return table[TABLE_COLUMNS].sort_values(["step", "layer", "param", "metric", "k"])


def checkpoint_metrics(
    base_dir,
    checkpoint_dir,
    out,
    pattern: str | None = None,
    settings: MetricSettings | None = None,
    device: str = "auto",
    labels: dict | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The metrics CSV of one checkpoint on its own (``decompose`` can write it in its pass)."""
    from rldynamics.io import ModelWeights, write_csv
    from rldynamics.io import progress as progress_bar
    from rldynamics.lowrank import resolve_device
    from rldynamics.pairs import check_pair_finite, read_pair
    from rldynamics.selection import DEFAULT_PARAM_PATTERN, select_params

    settings = settings or MetricSettings()
    pattern = pattern or DEFAULT_PARAM_PATTERN
    target = resolve_device(device)
    base, rl = ModelWeights(base_dir), ModelWeights(checkpoint_dir)
    params = select_params(base.names(), pattern)
    if not params:
        raise InputError(f"{base_dir}: no tensor matches the parameter pattern {pattern!r}")
    rows: list[dict] = []
    for name in progress_bar(params, f"metrics {checkpoint_dir}", not progress):
        w0, w1 = read_pair(base, rl, name)
        check_pair_finite(base, rl, w0, w1, name)
        rows += matrix_metrics(w0.to(target), w1.to(target), settings, name)
    labels = labels or {}
    frame = metrics_frame(rows, labels.get("run"), labels.get("step"))
    write_csv(out, frame)
    return frame
