"""The decomposition engine: the top-k singular triplets of one float32 matrix, fast and checked.

Two methods:

- ``exact``: a full SVD (LAPACK on the CPU, cuSOLVER on CUDA), cut to the top k. A wide
  matrix is decomposed through its transpose, which gives the same factors and is several times
  faster with LAPACK's divide-and-conquer driver.
- ``randomized`` (the default): a randomized block Krylov method (block Golub–Kahan–Lanczos
  with full reorthogonalization) started from a seeded Gaussian block of ``block`` columns,
  with a Rayleigh–Ritz step after every Krylov step and an accuracy guard.

The guard. After step j the Krylov recurrences give every Ritz triplet (σ̃_i, ũ_i, ṽ_i) its
exact residual ρ_i = ‖(A·ṽ_i − σ̃_i·ũ_i, Aᵀ·ũ_i − σ̃_i·ṽ_i)‖ without another pass over A (see
:func:`randomized_top_k`). For the symmetric matrix [[0, A], [Aᵀ, 0]] the pair is an
approximate eigenpair with residual η_i = ρ_i/√2, and the standard perturbation bounds give,
with δ_i the gap between σ̃_i and its neighbours (estimated from the neighbouring Ritz values):

- singular value: |σ_i − σ̃_i| ≤ min(η_i, η_i²/δ_i)  (Weyl; Kato–Temple);
- top direction: sin∠((ũ_1, ṽ_1), (u_1, v_1)) ≤ η_1/δ_1  (Davis–Kahan), so
  1 − |cos(ũ_1, u_1)| ≲ (η_1/δ_1)².

The iteration stops at the first step where every estimated relative error of σ_1..σ_k is at
most ``sigma_tol`` and the top direction's angle bound at most ``vector_tol``. Ritz values at
float32 rounding level (σ̃_i and η_i both ≤ ``zero_level``·σ̃_1: the update has rank < k) are
exempt from the relative test. If the guard is not satisfied after ``max_steps`` steps, or the
Krylov space would exceed half of min(m, n), the matrix is decomposed exactly instead
(``exact-fallback``): a flat spectrum costs time, never accuracy. Matrices with
min(m, n) ≤ 8·block go straight to the exact SVD, which is no dearer there.

The gaps come from neighbouring Ritz values, so the bounds are estimates, not proofs (on
planted spectra they overestimate the true error up to tenfold, down to float32 rounding,
about 1e-6, which they do not see); the start block is random, so missing a direction of A
altogether has probability zero, as with any randomized method. Only
u_1/v_1 is checked as a vector: the later singular vectors of a cluster of close singular
values are not determined by the data, by any method.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import torch

from rldynamics.errors import InputError
from rldynamics.settings import DEVICES, METHODS, Guard  # noqa: F401  (re-exported)


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


def _project_out(X: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """X minus its component in span(basis) (orthonormal columns), twice ("twice is enough"
    for orthogonality in float32)."""
    if basis.shape[1] == 0:
        return X
    X = X - basis @ (basis.T @ X)
    return X - basis @ (basis.T @ X)


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


def randomized_top_k(A: torch.Tensor, k: int, guard: Guard, seed: int = 0) -> TopK:
    """Randomized block Krylov top-k with the accuracy guard; falls back to the exact SVD.

    Block Golub–Kahan–Lanczos: V_1 = orth(Ω); U_j = orth(A·V_j ⟂ K_U);
    V_{j+1}·R_j = Aᵀ·U_j ⟂ K_V (QR). Then A·K_V = K_U·T with T = K_Uᵀ·A·K_V and
    Aᵀ·K_U = K_V·Tᵀ + V_{j+1}·R_j·E_jᵀ, so for a Ritz triplet of T = X·Σ·Yᵀ the residual is
    ‖A·ṽ_i − σ̃_i·ũ_i‖ = 0 and ‖Aᵀ·ũ_i − σ̃_i·ṽ_i‖ = ‖R_j · (last block of x_i)‖: the guard
    costs no pass over A.
    """
    m, n = A.shape
    b = max(guard.block, k)
    max_steps = min(guard.max_steps, (min(m, n) // 2) // b)
    if min(m, n) <= 8 * b or max_steps < 2:
        return exact_top_k(A, k)  # small: the exact SVD costs no more than the bookkeeping
    generator = torch.Generator().manual_seed(seed)
    start = torch.randn(n, b, generator=generator, dtype=torch.float32).to(A.device, A.dtype)
    size = max_steps * b
    options = {"dtype": A.dtype, "device": A.device}
    KV = torch.empty(n, size, **options)  # orthonormal basis of the Krylov space K_V
    KU = torch.empty(m, size, **options)  # orthonormal basis of K_U
    T = torch.zeros(size, size, **options)  # K_Uᵀ · A · K_V (block upper triangular)
    KV[:, :b] = torch.linalg.qr(start)[0]
    sigma_err = angle = float("inf")
    for step in range(1, max_steps + 1):
        lo, hi = (step - 1) * b, step * b
        block = A @ KV[:, lo:hi]  # one pass over A (tall result: the fast GEMM shape)
        U = torch.linalg.qr(_project_out(block, KU[:, :lo]))[0]
        KU[:, lo:hi] = U
        # A·V_i lies in span(U_1..U_i), so the blocks of T below the diagonal are zero (up to
        # rounding): only the new block column is computed.
        T[:hi, lo:hi] = KU[:, :hi].T @ block
        Q, coupling = torch.linalg.qr(_project_out(A.T @ U, KV[:, :hi]))  # one pass: Aᵀ·U_j
        if step < max_steps:
            KV[:, hi : hi + b] = Q
        if step == 1:
            continue  # the V-side Ritz values of step 1 only see the random start block
        X, ritz, Yh = torch.linalg.svd(T[:hi, :hi])
        residual = torch.linalg.vector_norm(coupling @ X[lo:hi, :k], dim=0)
        kk = min(k + 1, hi)
        sigma_err, angle = guard_estimates(ritz[:kk], residual, k, guard.zero_level)
        if sigma_err <= guard.sigma_tol and angle <= guard.vector_tol:
            U = KU[:, :hi] @ X[:, :k]
            V = KV[:, :hi] @ Yh[:k].T
            return TopK(U, ritz[:k].clone(), V, "randomized", step, 2 * step, sigma_err, angle)
    result = exact_top_k(A, k)
    result.method = "exact-fallback"
    result.steps, result.passes = max_steps, 2 * max_steps
    result.info["reason"] = (
        f"guard not met after {max_steps} Krylov steps (estimated σ error {sigma_err:.2g}, "
        f"u1 angle {angle:.2g})"
    )
    return result


def top_k(
    A: torch.Tensor,
    k: int | None,
    method: str = "randomized",
    guard: Guard | None = None,
    seed: int = 0,
    name: str = "matrix",
    fro: torch.Tensor | float | None = None,
) -> TopK:
    """Top-``k`` singular triplets of a float32 matrix (``k=None``: all of them, exactly).

    ``fro``: ‖A‖F when the caller has it (a zero matrix gets zero factors and identity bases).
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
    return randomized_top_k(A, kk, guard or Guard(), seed)
