"""The decomposition engine: the top-k singular triplets of one float32 matrix, fast and checked.

Two methods:

- ``exact``: a full SVD (LAPACK on the CPU, cuSOLVER on CUDA), cut to the top k. A wide
  matrix is decomposed through its transpose, which gives the same factors and is several times
  faster with LAPACK's divide-and-conquer driver.
- ``randomized`` (the default): a randomized block Krylov method started from a seeded Gaussian
  block of ``block`` columns, with a Rayleigh–Ritz step after every Krylov step and an accuracy
  guard.

The Krylov method. Let B be the matrix or its transpose, whichever is tall (p × q, p ≥ q). It
builds an orthonormal basis K of the block Krylov space span{Ω, BᵀB·Ω, (BᵀB)²·Ω, …} on the
short side (block Lanczos with full reorthogonalization, which is cheap there) and keeps the
images W = B·K. Step j costs two passes over the matrix: W_j = B·K_j, then
K_{j+1}·C_j = BᵀW_j ⟂ K (QR). The Ritz triplets are those of B restricted to K: with
G = WᵀW (accumulated in float64, so that the squares lose nothing) and G·y_i = σ̃_i²·y_i,
ṽ_i = K·y_i and ũ_i = W·y_i/σ̃_i. This is the subspace of block Golub–Kahan–Lanczos, with all
the orthogonalization on the short side. Exactly:

- B·ṽ_i − σ̃_i·ũ_i = 0, and
- Bᵀ·ũ_i − σ̃_i·ṽ_i = (BᵀB·K·y_i − σ̃_i²·K·y_i)/σ̃_i = K_{j+1}·C_j·(last block of y_i)/σ̃_i

(Lanczos relation BᵀB·K = K·H + K_{j+1}·C_j·E_jᵀ with H = G), so every Ritz triplet gets its
residual ρ_i = ‖C_j·y_i,last‖/σ̃_i without another pass over the matrix.

The guard. For the symmetric matrix [[0, B], [Bᵀ, 0]] the pair is an approximate eigenpair with
residual η_i = ρ_i/√2, and the standard perturbation bounds give, with δ_i the gap between σ̃_i
and its neighbours (estimated from the neighbouring Ritz values):

- singular value: |σ_i − σ̃_i| ≤ min(η_i, η_i²/δ_i)  (Weyl; Kato–Temple);
- top direction: sin∠((ũ_1, ṽ_1), (u_1, v_1)) ≤ η_1/δ_1  (Davis–Kahan), so
  1 − |cos(ũ_1, u_1)| ≲ (η_1/δ_1)².

The iteration stops at the first step where every estimated relative error of σ_1..σ_k is at
most ``sigma_tol`` and the top direction's angle bound at most ``vector_tol``. Ritz values at
float32 rounding level (σ̃_i ≤ ``zero_level``·σ̃_1: ṽ_i is numerically in the null space, so
the update has rank < k and the Krylov space already holds its whole row space) are exempt from
the relative test; their ũ_i are completed to an orthonormal basis. If the guard is not
satisfied after ``max_steps`` steps, or the Krylov space would exceed half of min(m, n), the
matrix is decomposed exactly instead (``exact-fallback``): a flat spectrum costs time, never
accuracy. Matrices with min(m, n) ≤ 8·block go straight to the exact SVD, which is no dearer
there.

The gaps come from neighbouring Ritz values, so the bounds are estimates, not proofs (on
planted spectra they overestimate the true error up to tenfold, down to float32 rounding,
about 1e-6, which they do not see); the start block is random, so missing a direction of the
matrix altogether has probability zero, as with any randomized method. The float32 rounding of
the products grows, relative to σ_k, with σ_1/σ_k: on planted RL-like spectra (1200 × 300) the
true error of σ_1..σ_8 stayed below 1e-6 up to σ_1/σ_8 = 1200 and was 6e-6 at 4000 and 1.5e-5
at 40000 (the estimates said 2e-6 and 3e-7). Only u_1/v_1 is checked as a vector: the later
singular vectors of a cluster of close singular values are not determined by the data, by any
method. ũ_i is made orthonormal by one Cholesky QR step (it is so only to about eps·σ_1/σ_i).

The subspace guard (:class:`SubspaceCheck`, asked for by the parameter metrics, whose principal
angles use whole top-k subspaces). The Ritz triplets satisfy B·Ṽ_k = Ũ_k·Σ̃_k exactly and
Bᵀ·Ũ_k − Ṽ_k·Σ̃_k = R_k = K_{j+1}·C_j·Y_last,k·Σ̃_k⁻¹, so ‖R_k‖₂ = ‖C_j·Y_last,k·Σ̃_k⁻¹‖₂ (a
small matrix). Wedin's sin Θ theorem bounds both the left and the right subspace:
‖sin Θ(Ũ_k, U_k)‖₂, ‖sin Θ(Ṽ_k, V_k)‖₂ ≤ ‖R_k‖₂ / (σ̃_k − σ_{k+1}), where σ_{k+1} is
estimated by the Ritz value σ̃_{k+1} (as the gaps above, an estimate). With the check, the
iteration stops when, in addition to the σ test, this bound is at most ``tol`` at every k of
``ranks`` whose relative gap (σ̃_k − σ̃_{k+1})/σ̃_k is at least ``gap_floor``; it replaces the
u_1 test. Below the floor the subspace itself is ill-conditioned (any method's answer moves by
about the perturbation over the gap), so it is not waited for: the caller reports the gap.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import torch

from rldynamics.core.errors import InputError
from rldynamics.core.settings import DEVICES, METHODS, Guard  # noqa: F401  (re-exported)


@dataclass
class TopK:
    """Top-k singular triplets, A ≈ U diag(S) Vᵀ, and how they were obtained."""

    U: torch.Tensor  # [m, k]
    S: torch.Tensor  # [k]
    V: torch.Tensor  # [n, k]
    method: str  # randomized | exact | exact-fallback | zero
    steps: int = 0  # Krylov steps (0 for exact)
    passes: int = 0  # products with A or Aᵀ (one block each)
    sigma_err: float = float("nan")  # estimated max relative error of σ_1..σ_k
    angle: float = float("nan")  # estimated sin of the angle of (u_1, v_1)
    info: dict = field(default_factory=dict)

    def record(self) -> dict:
        """A JSON-ready summary for the factor file's metadata."""
        out = {"method": self.method, "steps": self.steps, "passes": self.passes}
        for key in ("sigma_err", "angle"):
            value = getattr(self, key)
            out[key] = None if math.isnan(value) else float(f"{value:.3g}")
        if "reason" in self.info:
            out["reason"] = self.info["reason"]
        return out


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cuda`` without CUDA is an input error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} asked for, but CUDA is not available here")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise InputError(f"device must be one of {DEVICES} (or cuda:N), got {device!r}")


def device_label(device: torch.device) -> str:
    """The device as recorded in metadata, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"


def matrix_seed(name: str, seed: int = 0) -> int:
    """A seed per matrix name: results do not depend on the order matrices are visited."""
    return (zlib.crc32(name.encode()) + 1_000_003 * seed) % (2**63)


def exact_top_k(A: torch.Tensor, k: int) -> TopK:
    """Top k of the full SVD (through the transpose for a wide matrix)."""
    if A.shape[0] < A.shape[1]:
        Ut, S, Vht = torch.linalg.svd(A.T, full_matrices=False)
        U, V = Vht[:k].T, Ut[:, :k]
    else:
        U, S, Vh = torch.linalg.svd(A, full_matrices=False)
        U, V = U[:, :k], Vh[:k].T
    return TopK(U, S[:k], V, "exact")


def _zero_top_k(A: torch.Tensor, k: int) -> TopK:
    m, n = A.shape
    eye_u = torch.eye(m, k, dtype=A.dtype, device=A.device)
    eye_v = torch.eye(n, k, dtype=A.dtype, device=A.device)
    return TopK(eye_u, torch.zeros(k, dtype=A.dtype, device=A.device), eye_v, "zero")


SKIP_CHECK_ABOVE = 1e4  # see randomized_top_k


@dataclass(frozen=True)
class SubspaceCheck:
    """The subspace guard (see the module's docstring): Wedin's bound on sin Θ of the top-k
    subspaces at most ``tol`` at every k of ``ranks`` whose relative gap is at least
    ``gap_floor``."""

    ranks: tuple[int, ...]
    tol: float = 1e-4
    gap_floor: float = 1e-3


def subspace_bounds(
    ritz: torch.Tensor, weighted: torch.Tensor, check: SubspaceCheck, zero_level: float
) -> dict[int, float]:
    """Wedin's bound per checked k (those with a relative gap of at least the floor).

    ``ritz``: Ritz values, descending; ``weighted``: C_j·Y_last (b × k), the residual block
    before the division by σ̃. A k without σ̃_{k+1} yet counts as not met (bound inf).
    """
    s = ritz.double().cpu()
    top = float(s[0])
    bounds = {}
    for k in sorted(set(check.ranks)):
        if k > weighted.shape[1]:
            continue
        if k >= s.numel():
            bounds[k] = float("inf")
            continue
        sk, following = float(s[k - 1]), float(s[k])
        if sk <= zero_level * top or (sk - following) < check.gap_floor * sk:
            continue  # rank-deficient or ill-conditioned there: reported, not waited for
        residual = weighted[:, :k].double().cpu() / s[:k]
        bounds[k] = float(torch.linalg.matrix_norm(residual, ord=2)) / (sk - following)
    return bounds


class Workspace:
    """Krylov buffers kept from one matrix to the next (one per thread: not shared).

    A fresh buffer of a few MB costs a page fault per 4 KiB page on first touch (glibc maps such
    blocks and unmaps them when freed), which on a small CPU costs as much as a pass over the
    matrix; :func:`rldynamics.decompose.factors.decompose` keeps one workspace for all its
    matrices. Rows are the unit of growth: the Krylov blocks are stored as rows, so a step touches
    only its own.
    """

    def __init__(self):
        self._buffers: dict[tuple, torch.Tensor] = {}

    def rows(self, name: str, rows: int, cols: int, dtype, device) -> torch.Tensor:
        """A [rows, cols] buffer (uninitialized), reused while it is large enough."""
        key = (name, cols, dtype, str(device))
        buffer = self._buffers.get(key)
        if buffer is None or buffer.shape[0] < rows:
            buffer = torch.empty(rows, cols, dtype=dtype, device=device)
            self._buffers[key] = buffer
        return buffer[:rows]


def _project_out(X: torch.Tensor, basis_rows: torch.Tensor) -> torch.Tensor:
    """X minus its component in the span of the (orthonormal) rows of ``basis_rows``, twice
    ("twice is enough" for orthogonality in float32)."""
    if basis_rows.shape[0] == 0:
        return X
    X = X - basis_rows.T @ (basis_rows @ X)
    return X - basis_rows.T @ (basis_rows @ X)


def guard_estimates(
    ritz: torch.Tensor, residual: torch.Tensor, k: int, zero_level: float
) -> tuple[float, float]:
    """(max estimated relative error of σ_1..σ_k, estimated sin∠ of (u_1, v_1)).

    ``ritz``: Ritz values, descending (at least k, ideally k + 1 for the last gap);
    ``residual``: ρ_i = ‖(A·v_i − σ_i·u_i, Aᵀ·u_i − σ_i·v_i)‖ for i < k.
    """
    s = ritz.double().cpu().tolist()  # two transfers, then plain arithmetic
    eta = [r / math.sqrt(2.0) for r in residual.double().cpu().tolist()]
    top = s[0]
    if top <= 0:
        return float("inf"), float("inf")
    worst = 0.0
    for i in range(k):
        if s[i] <= zero_level * top and eta[i] <= zero_level * top:
            continue  # numerically zero: the update has rank < k
        gaps = []
        if i > 0:
            gaps.append(s[i - 1] - s[i])
        if i + 1 < len(s):
            gaps.append(s[i] - s[i + 1])
        gap = min(gaps) if gaps else s[i]
        bound = eta[i] if gap <= 0 else min(eta[i], eta[i] ** 2 / gap)
        worst = max(worst, bound / s[i] if s[i] > 0 else float("inf"))
    gap1 = s[0] - s[1] if len(s) > 1 else top
    angle = eta[0] / gap1 if gap1 > 0 else float("inf")
    return worst, angle


def _orthonormal_columns(U: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """U's columns made orthonormal, each keeping its direction and sign, and completed to k
    columns by seeded random directions: ũ_i = W·y_i/σ̃_i is orthonormal only to about
    eps·σ_1/σ_i, and undefined for the Ritz values at zero level.

    Nearly orthonormal columns take one Cholesky QR step (U·R⁻¹ with RᵀR = UᵀU: one small
    product, no pass of Householder reflections); a completion takes a Householder QR.
    """
    p, good = U.shape
    if good == k:
        lower, info = torch.linalg.cholesky_ex(U.T @ U)
        if int(info) == 0:
            return torch.linalg.solve_triangular(lower, U.T, upper=False).T
    if good < k:
        generator = torch.Generator().manual_seed(seed + 1)
        extra = torch.randn(p, k - good, generator=generator, dtype=torch.float32)
        U = torch.cat([U, extra.to(U)], dim=1)
    Q, R = torch.linalg.qr(U)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1
    return Q * signs


def krylov_start(q: int, b: int, seed: int, like: torch.Tensor) -> torch.Tensor:
    """The first Krylov block K_1 as rows (b × q): the orthonormalized seeded Gaussian Ω, with
    ``like``'s device and dtype."""
    generator = torch.Generator().manual_seed(seed)
    start = torch.randn(q, b, generator=generator, dtype=torch.float32).to(like.device, like.dtype)
    return torch.linalg.qr(start)[0].T


def extend_image(
    B: torch.Tensor,
    basis: torch.Tensor,
    image: torch.Tensor,
    gram: torch.Tensor,
    lo: int,
    hi: int,
) -> torch.Tensor:
    """W_j = B·K_j (one pass over B) for the basis rows ``lo:hi``, stored as rows of ``image``
    (float64) with the new rows and columns of G = WᵀW in ``gram``; returns W_j."""
    block = B @ basis[lo:hi].T
    image[lo:hi] = block.T
    column = (image[:hi] @ image[lo:hi].T).cpu()
    gram[:hi, lo:hi] = column
    gram[lo:hi, :lo] = column[:lo].T
    return block


def next_krylov_block(
    B: torch.Tensor, block: torch.Tensor, basis_rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K_{j+1}, C_j) with K_{j+1}·C_j = Bᵀ·W_j projected off the rows of ``basis_rows`` (one
    pass over B).

    The block is projected and orthonormalized twice: when the space is numerically exhausted,
    the first QR normalizes rounding noise, and the second makes it fresh directions ⟂ K.
    """
    following, coupling = torch.linalg.qr(_project_out(B.T @ block, basis_rows))
    following, again = torch.linalg.qr(_project_out(following, basis_rows))
    return following, again @ coupling


def ritz_pairs(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Ritz values σ̃ descending, eigenvectors Y of G in the same order) of a Gram matrix G."""
    squares, vectors = torch.linalg.eigh(gram)
    return squares.flip(0).clamp_min(0).sqrt(), vectors.flip(1)


def ritz_residuals(
    ritz: torch.Tensor, coupling: torch.Tensor, last: torch.Tensor, zero_level: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(C_j·Y_last, which of σ̃_1..σ̃_k are above zero level, residuals ρ_i) of the top k Ritz
    triplets, k = ``last``'s columns (``last``: the last block's rows of Y); ρ_i is 0 at zero
    level."""
    k = last.shape[1]
    weighted = coupling.double().cpu() @ last
    lanczos = torch.linalg.vector_norm(weighted, dim=0)
    nonzero = ritz[:k] > zero_level * float(ritz[0])
    residual = torch.where(nonzero, lanczos / ritz[:k].clamp_min(1e-300), 0.0)
    return weighted, nonzero, residual


def check_guard(
    ritz: torch.Tensor,
    residual: torch.Tensor,
    weighted: torch.Tensor,
    guard: Guard,
    subspace: SubspaceCheck | None,
) -> tuple[float, float, dict[int, float] | None, bool]:
    """(estimated σ error, u_1 angle, subspace bounds or None, whether the guard is met) of the
    top k = len(``residual``) Ritz triplets."""
    k = residual.shape[0]
    sigma_err, angle = guard_estimates(ritz[: k + 1], residual, k, guard.zero_level)
    bounds = None
    if subspace is None:
        vectors_ok = angle <= guard.vector_tol
    else:
        bounds = subspace_bounds(ritz, weighted, subspace, guard.zero_level)
        vectors_ok = all(bound <= subspace.tol for bound in bounds.values())
    return sigma_err, angle, bounds, sigma_err <= guard.sigma_tol and vectors_ok


def ritz_triplets(
    A: torch.Tensor,
    basis: torch.Tensor,
    image: torch.Tensor,
    ritz: torch.Tensor,
    vectors: torch.Tensor,
    nonzero: torch.Tensor,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(U, S, V) of A from its top k Ritz triplets (k = len(``nonzero``)): ṽ_i = K·y_i on the
    short side, ũ_i = W·y_i/σ̃_i made orthonormal and completed on the long side.

    ``basis``, ``image``: the rows of K and W = B·K so far; ``vectors``: Y, as ``ritz``.
    """
    k = nonzero.shape[0]
    Y = vectors[:, :k].to(A.device)
    S = ritz[:k].to(A.device)
    small_side = basis.T @ Y.to(A.dtype)
    good = int(nonzero.sum())
    large_side = (image.T @ Y[:, :good]) / S[:good]
    large_side = _orthonormal_columns(large_side.to(A.dtype), k, seed)
    S = S.to(A.dtype)
    if A.shape[0] >= A.shape[1]:
        return large_side, S, small_side
    return small_side, S, large_side


def exact_fallback(
    A: torch.Tensor,
    k: int,
    max_steps: int,
    sigma_err: float,
    angle: float,
    subspace: SubspaceCheck | None,
) -> TopK:
    """The exact top k, recorded as the fallback of a guard not met after ``max_steps``."""
    result = exact_top_k(A, k)
    result.method = "exact-fallback"
    result.steps, result.passes = max_steps, 2 * max_steps
    result.info["reason"] = (
        f"guard not met after {max_steps} Krylov steps (estimated σ error {sigma_err:.2g}, "
        f"u1 angle {angle:.2g}" + (", or the subspace guard)" if subspace else ")")
    )
    return result


def randomized_top_k(
    A: torch.Tensor,
    k: int,
    guard: Guard,
    seed: int = 0,
    workspace: Workspace | None = None,
    subspace: SubspaceCheck | None = None,
    exact_below: int | None = None,
) -> TopK:
    """Randomized block Krylov top-k with the accuracy guard; falls back to the exact SVD.

    See the module's docstring for the method, the residual formula and the guard. The passes
    over A are the products B·K_j and Bᵀ·W_j; everything else works on the short side or on
    float64 Gram blocks of a few hundred entries. ``subspace`` adds the subspace guard;
    ``exact_below``: a short side up to this goes straight to the exact SVD (default 8·block;
    tests set 0 to take the Krylov path on small matrices).
    """
    m, n = A.shape
    B = A if m >= n else A.T  # tall (p × q): the Krylov basis lives on the short side
    p, q = B.shape
    b = max(guard.block, k)
    max_steps = min(guard.max_steps, (q // 2) // b)
    if q <= (8 * b if exact_below is None else exact_below) or max_steps < 2:
        return exact_top_k(A, k)  # small: the exact SVD costs no more than the bookkeeping
    workspace = workspace or Workspace()
    start = krylov_start(q, b, seed, A)
    size = max_steps * b
    basis = workspace.rows("basis", size, q, A.dtype, A.device)  # rows: orthonormal K
    image = workspace.rows("image", size, p, torch.float64, A.device)  # rows: W = B·K
    gram = torch.empty(size, size, dtype=torch.float64)  # G = WᵀW (small: on the CPU)
    basis[:b] = start
    sigma_err = angle = float("inf")
    skip_check = True  # step 1's Ritz values only see the random start block
    for step in range(1, max_steps + 1):
        lo, hi = (step - 1) * b, step * b
        block = extend_image(B, basis, image, gram, lo, hi)
        following, coupling = next_krylov_block(B, block, basis[:hi])
        if step < max_steps:
            basis[hi : hi + b] = following.T
        if skip_check and step < max_steps:
            skip_check = False
            continue
        ritz, vectors = ritz_pairs(gram[:hi, :hi])
        if float(ritz[0]) == 0.0:
            break  # the start block missed A entirely (probability zero): decompose exactly
        weighted, nonzero, residual = ritz_residuals(
            ritz, coupling, vectors[lo:hi, :k], guard.zero_level
        )
        sigma_err, angle, bounds, met = check_guard(ritz, residual, weighted, guard, subspace)
        if met:
            U, S, V = ritz_triplets(A, basis[:hi], image[:hi], ritz, vectors, nonzero, seed)
            result = TopK(U, S, V, "randomized", step, 2 * step, sigma_err, angle)
            if subspace is not None:
                result.info["subspace_bounds"] = bounds
            return result
        # An estimate this far above the tolerance does not close in one step (it falls 10- to
        # 200-fold per step on RL-like spectra): skip the next check. At worst a step too many.
        skip_check = sigma_err > SKIP_CHECK_ABOVE * guard.sigma_tol
    return exact_fallback(A, k, max_steps, sigma_err, angle, subspace)


def top_k(
    A: torch.Tensor,
    k: int | None,
    method: str = "randomized",
    guard: Guard | None = None,
    seed: int = 0,
    name: str = "matrix",
    fro: torch.Tensor | float | None = None,
    workspace: Workspace | None = None,
    subspace: SubspaceCheck | None = None,
    exact_below: int | None = None,
) -> TopK:
    """Top-``k`` singular triplets of a float32 matrix (``k=None``: all of them, exactly).

    ``fro``: ‖A‖F when the caller has it (a zero matrix gets zero factors and identity bases);
    ``workspace``: Krylov buffers to reuse across calls (see :class:`Workspace`);
    ``subspace``, ``exact_below``: see :func:`randomized_top_k`.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    if A.ndim != 2:
        raise InputError(f"{name}: expected a 2-D matrix, got shape {tuple(A.shape)}")
    full = min(A.shape)
    kk = full if k is None else k
    if kk > full:
        raise InputError(
            f"{name}: rank {kk} exceeds the matrix's largest possible rank {full} "
            f"(shape {tuple(A.shape)})"
        )
    if fro is None:
        fro = torch.linalg.vector_norm(A)
    if float(fro) == 0.0:
        return _zero_top_k(A, kk)
    if method == "exact" or k is None or kk == full:
        return exact_top_k(A, kk)
    return randomized_top_k(A, kk, guard or Guard(), seed, workspace, subspace, exact_below)
