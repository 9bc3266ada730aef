"""The Path Not Taken parameter metrics (METHOD §7), per decomposed matrix and checkpoint.

For a base matrix W0 and its RL checkpoint value Wt (each as stored, compared in float32):

- ``update_sparsity``: share of entries left unchanged, an entry being unchanged iff
  |ŵ − w| ≤ η·max(|w|, |ŵ|) (η = 1e-3: about bitwise equality in bf16);
- ``principal_angle_{left,right}_max_deg``: the largest principal angle, in degrees, between
  the top-k left (right) singular subspaces of W0 and Wt, for each k of a list, with
  ``principal_angle_gap_rel`` = min over W0 and Wt of (σ_k − σ_{k+1})/σ_k beside it: below
  1e-3 the top-k subspace is ill-conditioned (it moves by about the perturbation over the gap,
  whatever the method) and so is the angle;
- ``spectral_shift_nss``: ‖σ(Wt) − σ(W0)‖₂ / ‖σ(W0)‖₂ over all singular values;
- ``changed_in_principal_mask`` / ``changed_in_low_magnitude_mask``: share of the changed
  entries that lie in M_princ (top-α fraction of |rank-k reconstruction of W0|) or in M_low
  (bottom-α fraction of |W0|), with ``mask_random_baseline`` = α, the share a mask of α·n
  entries would catch if the changed entries were placed at random. Ties at the α-threshold
  are taken in row-major order, so a mask is a function of (scores, threshold, ties taken).

How each is computed (:func:`matrix_metrics`), and why it is accurate enough:

- W0's share (:class:`BaseShare`, :func:`base_share`) does not change between checkpoints and
  is computed once per run (``rldynamics base-metrics``,
  :mod:`rldynamics.decompose.metrics_files`): its spectrum (:func:`spectrum`), its top-r
  singular vectors (r = the largest k used) from the full float32 SVD, exactly as the
  reference takes them, and the α-thresholds of both masks (the masks themselves would take
  n bits per matrix; the thresholds regenerate them bit for bit).
- Wt's spectrum, for the NSS: :func:`spectrum`, the eigenvalues of the float64 Gram matrix on
  the short side (σ_i = √λ_i). The squares lose nothing (float32 products are exact in
  float64), so σ_i is float64-accurate for σ_i ≥ 1e-4·σ_1 and never worse than 1.5e-8·σ_1
  (√eps64): its NSS matched float64 SVDs to 2e-12 relative on Qwen3-8B's 4096 × 4096 and
  1024 × 4096 shapes, while on a 12288 × 4096 matrix with an RL-sized update (NSS ≈ 3e-5) the
  singular values of a float32 SVD put the NSS 1.3e-2 (``svd``) or 6e-4 (``svdvals``) off the
  float64 value. On a CPU it costs about a float32 ``svdvals``.
- Wt's top-k singular vectors, for the angles: the decomposition engine
  (:mod:`rldynamics.decompose.lowrank`, randomized block Krylov, block k + 16) with its
  subspace guard (:class:`rldynamics.decompose.lowrank.SubspaceCheck`): Wedin's bound on
  sin Θ of the whole top-k subspace at every angle rank at most 1e-4 (0.006°; the bound
  overestimates), except where the relative gap is below 1e-3 (reported beside the angle).
  The guard not met after its steps, or a small matrix: the exact SVD, as the reference.
- The angle itself: :func:`largest_principal_angle` (atan2 of the largest sine and the smallest
  cosine in float64: accurate near 0 and near 90° alike).
- Update sparsity and the mask overlaps count entries: exact, identical to the reference.

:func:`reference_matrix_metrics` keeps the full computation (a full SVD of W0 and of Wt, the
spectrum from float64 SVDs) that the tests hold the fast path to.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import pandas as pd
import torch

from rldynamics.core.errors import InputError
from rldynamics.core.selection import module_kind
from rldynamics.core.settings import MetricSettings
from rldynamics.decompose.lowrank import Guard, SubspaceCheck, Workspace, matrix_seed, top_k

log = logging.getLogger(__name__)

ANGLE_SUBSPACE_TOL = 1e-4  # estimated sin Θ allowed on Wt's top-k subspaces
GAP_FLOOR = 1e-3  # relative gap at k below which a top-k subspace is ill-conditioned
KRYLOV_OVERSAMPLING = 16  # block = largest angle rank + this

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


def fraction_threshold(
    scores: torch.Tensor, fraction: float, largest: bool = True
) -> tuple[float, int]:
    """(threshold t, ties taken) of the round(fraction·n) (at least 1) largest (or smallest)
    scores: the mask holds every score beyond t and the first ``ties`` scores equal to t in
    row-major order (see :func:`threshold_mask`)."""
    flat = scores.reshape(-1)
    count = max(1, round(fraction * flat.numel()))
    position = flat.numel() - count + 1 if largest else count  # kthvalue: k-th smallest
    threshold = flat.kthvalue(position).values
    beyond = int((flat > threshold).sum() if largest else (flat < threshold).sum())
    return float(threshold), count - beyond


def threshold_mask(
    scores: torch.Tensor, threshold: float, ties: int, largest: bool = True
) -> torch.Tensor:
    """Boolean mask: scores beyond ``threshold`` and the first ``ties`` equal to it."""
    flat = scores.reshape(-1)
    mask = flat > threshold if largest else flat < threshold
    if ties > 0:
        equal = torch.nonzero(flat == threshold).flatten()
        if equal.numel() < ties:
            raise InputError(
                f"a mask threshold holds {equal.numel()} tied entries, {ties} were recorded: "
                "the scores are not those the threshold was taken from"
            )
        mask[equal[:ties]] = True
    return mask.reshape(scores.shape)


def top_fraction_mask(scores: torch.Tensor, fraction: float, largest: bool = True) -> torch.Tensor:
    """Boolean mask of the round(fraction·n) (at least 1) largest (or smallest) scores."""
    return threshold_mask(scores, *fraction_threshold(scores, fraction, largest), largest)


def rank_k_magnitude(U: torch.Tensor, S: torch.Tensor, V: torch.Tensor, rank: int) -> torch.Tensor:
    """|rank-k reconstruction| U_k diag(S_k) V_kᵀ in float64 (so that ties are genuine)."""
    k = min(rank, S.numel())
    return ((U[:, :k].double() * S[:k].double()) @ V[:, :k].double().T).abs_()


def principal_mask(
    U0: torch.Tensor, S0: torch.Tensor, V0: torch.Tensor, rank: int, fraction: float
) -> torch.Tensor:
    """M_princ: top-α fraction of the entries of |rank-k reconstruction of W0|."""
    return top_fraction_mask(rank_k_magnitude(U0, S0, V0, rank), fraction, largest=True)


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


def spectrum(w: torch.Tensor, chunk_rows: int = 2048, column_blocks: int = 4) -> torch.Tensor:
    """All min(m, n) singular values, descending, in float64: √ of the eigenvalues of the
    float64 Gram matrix on the short side (see the module's docstring for its accuracy).

    The Gram matrix is accumulated over blocks of rows, and only its lower triangle of
    ``column_blocks``² blocks is formed (the eigensolver reads no more): (b + 1)/(2b) of the
    products of a full one."""
    tall = w if w.shape[0] >= w.shape[1] else w.T
    q = tall.shape[1]
    gram = torch.zeros(q, q, dtype=torch.float64, device=w.device)
    edges = [round(i * q / column_blocks) for i in range(column_blocks + 1)]
    blocks = [(lo, hi) for lo, hi in zip(edges, edges[1:]) if hi > lo]
    for start in range(0, tall.shape[0], chunk_rows):
        rows = tall[start : start + chunk_rows].double()
        for i, (lo, hi) in enumerate(blocks):
            left = rows[:, lo:hi].T
            for lo_j, hi_j in blocks[: i + 1]:
                gram[lo:hi, lo_j:hi_j].addmm_(left, rows[:, lo_j:hi_j])
    return torch.linalg.eigvalsh(gram, UPLO="L").flip(0).clamp_min(0).sqrt()


def spectral_gap(singular_values: torch.Tensor, k: int) -> float:
    """(σ_k − σ_{k+1}) / σ_k (σ_{k+1} = 0 past the end; NaN when σ_k = 0)."""
    s = singular_values.double()
    sk = float(s[k - 1])
    following = float(s[k]) if k < s.numel() else 0.0
    return (sk - following) / sk if sk > 0 else float("nan")


@dataclass
class BaseShare:
    """W0's share of the metrics of one matrix: what every checkpoint compares against."""

    spectrum: torch.Tensor  # float64 [min(m, n)], descending (:func:`spectrum`)
    U: torch.Tensor  # float32 [m, r]: top-r left singular vectors (full SVD)
    S: torch.Tensor  # float32 [r]: their singular values (the same SVD, for M_princ)
    V: torch.Tensor  # float32 [n, r]
    principal: tuple[float, int]  # (threshold, ties) of M_princ over |rank-k reconstruction|
    low: tuple[float, int]  # (threshold, ties) of M_low over |W0|
    fro: float  # ‖W0‖F (float64): tells a stored share from another base's


def vector_rank(settings: MetricSettings, shape) -> int:
    """r: the singular vectors of W0 the metrics use (largest angle rank and the mask rank)."""
    full = min(shape)
    ranks = [int(k) for k in settings.angle_ranks if int(k) <= full]
    return min(max(ranks + [settings.mask_rank]), full)


def base_share(w0: torch.Tensor, settings: MetricSettings) -> BaseShare:
    """W0's share: one full SVD (the vectors and M_princ, as the reference) and its spectrum."""
    a = w0.float()
    r = vector_rank(settings, a.shape)
    U, S, V = _svd(a)
    U, S, V = U[:, :r].contiguous(), S[:r].contiguous(), V[:, :r].contiguous()
    magnitude = rank_k_magnitude(U, S, V, settings.mask_rank)
    principal = fraction_threshold(magnitude, settings.mask_fraction, largest=True)
    del magnitude
    low = fraction_threshold(a.abs(), settings.mask_fraction, largest=False)
    fro = float(torch.linalg.vector_norm(a.double()))
    return BaseShare(spectrum(a), U, S, V, principal, low, fro)


def _angle_ranks(settings: MetricSettings, shape) -> list[int]:
    """Angle ranks up to min(m, n) (above it the subspaces are the whole space: left out)."""
    return sorted(set(int(k) for k in settings.angle_ranks if int(k) <= min(shape)))


def top_vectors(
    w: torch.Tensor,
    ranks: list[int],
    name: str = "matrix",
    workspace: Workspace | None = None,
    exact_below: int | None = None,
):
    """Top-max(ranks) singular vectors (U, V) of a float32 matrix by the decomposition engine
    with the subspace guard at every rank (exact SVD for small matrices or a failed guard)."""
    k = max(ranks)
    guard = Guard(block=k + KRYLOV_OVERSAMPLING)
    check = SubspaceCheck(tuple(ranks), ANGLE_SUBSPACE_TOL, GAP_FLOOR)
    result = top_k(
        w, k, "randomized", guard, matrix_seed(name), name,
        workspace=workspace, subspace=check, exact_below=exact_below,
    )  # fmt: skip
    if result.method == "exact-fallback":
        log.warning("%s: Wt's top-%d subspaces took the exact SVD (%s)", name, k, result.info)
    return result.U, result.V


def _rows(a, b, changed, settings, ranks, share: BaseShare, U1, V1, s1) -> list[dict]:
    """The metric rows of one matrix from both shares (the fast and the reference path)."""
    rows = [{"metric": "update_sparsity", "k": None, "value": 1.0 - float(changed.float().mean())}]
    for k in ranks:
        gap = min(spectral_gap(share.spectrum, k), spectral_gap(s1, k))
        rows.append({"metric": "principal_angle_gap_rel", "k": k, "value": gap})
        for side, (P0, P1) in (("left", (share.U, U1)), ("right", (share.V, V1))):
            angle = math.degrees(largest_principal_angle(P0[:, :k], P1[:, :k]))
            rows.append({"metric": f"principal_angle_{side}_max_deg", "k": k, "value": angle})
    rows.append(
        {
            "metric": "spectral_shift_nss",
            "k": None,
            "value": normalized_spectral_shift(share.spectrum, s1),
        }
    )
    mask_rank = min(settings.mask_rank, min(a.shape))
    magnitude = rank_k_magnitude(share.U, share.S, share.V, mask_rank)
    principal = threshold_mask(magnitude, *share.principal, largest=True)
    del magnitude
    low = threshold_mask(a.abs(), *share.low, largest=False)
    rows += [
        {
            "metric": "changed_in_principal_mask",
            "k": mask_rank,
            "value": mask_overlap(changed, principal),
        },
        {
            "metric": "changed_in_low_magnitude_mask",
            "k": None,
            "value": mask_overlap(changed, low),
        },
        {"metric": "mask_random_baseline", "k": None, "value": settings.mask_fraction},
    ]
    return rows


def _label(rows: list[dict], name: str, shape) -> list[dict]:
    layer, kind = module_kind(name)
    for row in rows:
        row.update(param=name, layer=layer, type=kind, rows=shape[0], cols=shape[1])
    return rows


def _check_pair(w0, w1, name):
    if w0.shape != w1.shape or w0.ndim != 2:
        raise InputError(f"{name}: metrics need two 2-D matrices of one shape")


def check_share(share: BaseShare, w0: torch.Tensor, settings: MetricSettings, where: str) -> None:
    """A stored share must belong to this W0 and cover these settings (``where`` names it)."""
    m, n = w0.shape
    r = vector_rank(settings, w0.shape)
    if share.U.shape[0] != m or share.V.shape[0] != n or share.spectrum.numel() != min(m, n):
        raise InputError(
            f"{where}: stored for a {share.U.shape[0]}×{share.V.shape[0]} matrix, "
            f"the base holds {m}×{n}"
        )
    if share.U.shape[1] < r:
        raise InputError(
            f"{where}: holds W0's top {share.U.shape[1]} singular vectors, the metrics need "
            f"{r} (angle ranks {list(settings.angle_ranks)}, mask rank {settings.mask_rank}): "
            "rebuild it with these settings"
        )
    fro = float(torch.linalg.vector_norm(w0.double()))
    if abs(fro - share.fro) > 1e-6 * max(fro, share.fro):
        raise InputError(
            f"{where}: computed from another W0 (‖W0‖F {share.fro:.9g} there, {fro:.9g} in the "
            "base read now)"
        )


def matrix_metrics(
    w0: torch.Tensor,
    w1: torch.Tensor,
    settings: MetricSettings,
    name: str = "matrix",
    share: BaseShare | None = None,
    workspace: Workspace | None = None,
    exact_below: int | None = None,
) -> list[dict]:
    """Every metric of one matrix as tidy rows {param, metric, k, value} (k empty if none).

    ``share``: W0's share when it was computed once for the run (else it is computed here);
    ``workspace``: Krylov buffers to reuse; ``exact_below``: see
    :func:`rldynamics.decompose.lowrank.randomized_top_k` (tests set 0 to take the Krylov path on
    small matrices). Computed on the device of ``w0``; see the module's docstring for the methods.
    """
    _check_pair(w0, w1, name)
    a, b = w0.float(), w1.float()
    share = share or base_share(a, settings)
    ranks = _angle_ranks(settings, a.shape)
    changed = changed_mask(a, b, settings.eta)
    s1 = spectrum(b)
    U1 = V1 = None
    if ranks:
        U1, V1 = top_vectors(b, ranks, name, workspace, exact_below)
    return _label(_rows(a, b, changed, settings, ranks, share, U1, V1, s1), name, a.shape)


def reference_matrix_metrics(
    w0: torch.Tensor,
    w1: torch.Tensor,
    settings: MetricSettings,
    name: str = "matrix",
    float64_spectrum: bool = True,
) -> list[dict]:
    """The full computation the fast path is held to: a full float32 SVD of W0 and of Wt for
    the vectors and the masks, and the spectra from float64 SVDs (``float64_spectrum=False``:
    from the float32 SVDs, as the metrics were computed before, whose NSS is off by up to
    1.3e-2 relative on 8B shapes)."""
    _check_pair(w0, w1, name)
    a, b = w0.float(), w1.float()
    ranks = _angle_ranks(settings, a.shape)
    changed = changed_mask(a, b, settings.eta)
    U0, S0, V0 = _svd(a)
    U1, S1, V1 = _svd(b)
    if float64_spectrum:
        s0, s1 = torch.linalg.svdvals(a.double()), torch.linalg.svdvals(b.double())
    else:
        s0, s1 = S0.double(), S1.double()
    r = vector_rank(settings, a.shape)
    magnitude = rank_k_magnitude(U0, S0, V0, min(settings.mask_rank, min(a.shape)))
    principal = fraction_threshold(magnitude, settings.mask_fraction, largest=True)
    del magnitude
    low = fraction_threshold(a.abs(), settings.mask_fraction, largest=False)
    share = BaseShare(s0, U0[:, :r], S0[:r], V0[:, :r], principal, low, 0.0)
    return _label(_rows(a, b, changed, settings, ranks, share, U1, V1, s1), name, a.shape)


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
