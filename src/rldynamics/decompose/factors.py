"""Top singular factors of the RL update ΔW = W_rl − W_base of every selected matrix.

A factor file is a safetensors file with, for each decomposed parameter ``p``:
``p.U`` [m, k], ``p.S`` [k], ``p.V`` [n, k] with ΔW ≈ U diag(S) Vᵀ, and ``p.fro`` = ‖ΔW‖F
(a scalar), all float32, plus metadata: base, checkpoint, rank, method (asked for), device,
dtype, version, pattern, seed, the guard's settings, and per matrix how its factors were
obtained (``solver``: method used, Krylov steps, passes over ΔW, estimated errors).

The factors come from :mod:`rldynamics.decompose.lowrank` (randomized block Krylov with an accuracy
guard by default, or the exact SVD). Base and checkpoint are read tensor by tensor, so memory
stays bounded by a few matrices. The same pass can also compute the Path Not Taken metrics of
every matrix (:mod:`rldynamics.decompose.param_metrics`) and write them as a tidy CSV.

Sign convention: singular vectors are defined up to a joint sign of (u_i, v_i). We make the
entry of largest magnitude of every u_i positive and flip v_i with it, so that factors of
different checkpoints compare without further alignment in the common case.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import save_file

from rldynamics import __version__
from rldynamics.core.errors import InputError
from rldynamics.core.io import (
    ModelWeights,
    atomic_path,
    metadata_strings,
    read_pair,
    release_freed_memory,
    resident_bytes,
)
from rldynamics.core.io import progress as progress_bar
from rldynamics.core.selection import DEFAULT_PARAM_PATTERN, select_params
from rldynamics.core.settings import MetricSettings
from rldynamics.decompose.lowrank import (
    Guard,
    Workspace,
    device_label,
    matrix_seed,
    resolve_device,
    top_k,
)

log = logging.getLogger(__name__)


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
    signs = torch.sign(U[idx, torch.arange(U.shape[1], device=U.device)])
    signs[signs == 0] = 1
    return U * signs, V * signs


def factorize(
    delta: torch.Tensor,
    rank: int | None,
    name: str = "matrix",
    method: str = "exact",
    guard: Guard | None = None,
    seed: int = 0,
    fro: torch.Tensor | None = None,
    workspace: Workspace | None = None,
):
    """Top-``rank`` factors of a float32 update: (U [m,k], S [k], V [n,k], ‖ΔW‖F, TopK).

    Signs follow the convention above; ``method`` is ``exact`` or ``randomized``; ``fro`` is
    ‖ΔW‖F when the caller already has it; ``workspace`` keeps Krylov buffers across calls.
    """
    if delta.ndim != 2:
        raise InputError(f"{name}: expected a 2-D matrix, got shape {tuple(delta.shape)}")
    if fro is None:
        fro = torch.linalg.vector_norm(delta)
    result = top_k(delta, rank, method, guard, matrix_seed(name, seed), name, fro, workspace)
    U, V = canonical_signs(result.U, result.V)
    return U.contiguous(), result.S.contiguous(), V.contiguous(), fro, result


def top_factors(delta: torch.Tensor, rank: int | None, name: str = "matrix", **kwargs):
    """(U, S, V, ‖ΔW‖F) of :func:`factorize` (exact unless ``method`` says otherwise)."""
    return factorize(delta, rank, name, **kwargs)[:4]


def check_finite(delta: torch.Tensor, fro: torch.Tensor, pair, name: str) -> None:
    """Name the file whose tensor holds NaN or Inf (checked through ‖ΔW‖F: one cheap test)."""
    if bool(torch.isfinite(fro)) or bool(torch.isfinite(delta).all()):
        return
    base, rl, w0, w1 = pair
    for weights, tensor in ((base, w0), (rl, w1)):
        if not bool(torch.isfinite(tensor).all()):
            raise InputError(f"tensor {name!r} in {weights.folder} holds NaN or Inf")
    raise InputError(f"tensor {name!r}: the update holds NaN or Inf")


def form_delta(w0: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
    """ΔW = W_rl − W_base in float32 (one float32 copy, subtracted in place)."""
    return w1.to(torch.float32, copy=True).sub_(w0)


def weight_delta(base: ModelWeights, rl: ModelWeights, name: str) -> torch.Tensor:
    """ΔW = W_rl − W_base in float32, with shape and finiteness checked."""
    w0, w1 = read_pair(base, rl, name)
    delta = form_delta(w0, w1)
    check_finite(delta, torch.linalg.vector_norm(delta), (base, rl, w0, w1), name)
    return delta


def decompose(
    base_dir: str | Path,
    checkpoint_dir: str | Path,
    rank: str | int,
    out: str | Path,
    pattern: str = DEFAULT_PARAM_PATTERN,
    progress: bool = True,
    method: str = "randomized",
    device: str = "auto",
    guard: Guard | None = None,
    seed: int = 0,
    metrics_out: str | Path | None = None,
    metric_settings=None,
    labels: dict | None = None,
    base_metrics: str | Path | None = None,
) -> dict:
    """Write the factor file of one checkpoint (and, with ``metrics_out``, its metrics CSV;
    ``base_metrics``: a base-metrics file with W0's share, else computed per matrix here).

    Both files are written only when every matrix is done; on any failure neither is left.
    Returns the factor file's metadata.
    """
    k = parse_rank(rank)
    guard = guard or Guard()
    target = resolve_device(device)
    base = ModelWeights(base_dir)
    rl = ModelWeights(checkpoint_dir)
    params = select_params(base.names(), pattern)
    if not params:
        raise InputError(f"{base_dir}: no tensor matches the parameter pattern {pattern!r}")
    if metrics_out is not None:
        from rldynamics.decompose.metrics_files import BaseMetrics
        from rldynamics.decompose.param_metrics import matrix_metrics, metrics_frame

        metric_settings = metric_settings or MetricSettings()
        shares = BaseMetrics(base_metrics, metric_settings) if base_metrics else None
    tensors: dict[str, torch.Tensor] = {}
    solver: dict[str, dict] = {}
    rows: list[dict] = []
    dtypes = {"base": set(), "checkpoint": set()}
    baseline = resident_bytes() or 0
    largest = 0
    workspace = Workspace()
    for name in progress_bar(params, f"decompose {Path(checkpoint_dir).name}", not progress):
        w0, w1 = read_pair(base, rl, name)
        dtypes["base"].add(str(w0.dtype).removeprefix("torch."))
        dtypes["checkpoint"].add(str(w1.dtype).removeprefix("torch."))
        w0, w1 = w0.to(target), w1.to(target)
        delta = form_delta(w0, w1)
        fro = torch.linalg.vector_norm(delta)
        check_finite(delta, fro, (base, rl, w0, w1), name)
        U, S, V, fro, result = factorize(delta, k, name, method, guard, seed, fro, workspace)
        del delta
        tensors[f"{name}.U"], tensors[f"{name}.S"] = U.cpu(), S.cpu()
        tensors[f"{name}.V"], tensors[f"{name}.fro"] = V.cpu(), fro.cpu()
        solver[name] = result.record()
        if metrics_out is not None:
            share = shares.share(name, w0) if shares else None
            rows += matrix_metrics(w0, w1, metric_settings, name, share, workspace)
        # Keep the resident size within a few matrices of the start (heap fragmentation).
        largest = max(largest, 4 * w0.numel())
        del w0, w1, result
        release_freed_memory(above=baseline + 16 * largest)
    if all(float(tensors[f"{name}.fro"]) == 0.0 for name in params):
        raise InputError(
            f"checkpoint {checkpoint_dir} is identical to the base {base_dir} in every "
            "decomposed matrix (ΔW = 0): is it the right checkpoint?"
        )
    used = Counter(entry["method"] for entry in solver.values())
    meta = {
        "base": str(base_dir),
        "checkpoint": str(checkpoint_dir),
        "rank": "full" if k is None else k,
        "method": method,
        "methods_used": dict(sorted(used.items())),
        "device": device_label(target),
        "dtype": sorted(dtypes["checkpoint"]),
        "base_dtype": sorted(dtypes["base"]),
        "pattern": pattern,
        "seed": seed,
        "guard": guard.as_dict(),
        "solver": solver,
        "version": __version__,
        "torch": torch.__version__,
    }
    if used.get("exact-fallback"):
        log.warning(
            "%d of %d matrices fell back to the exact SVD (flat spectrum): see metadata 'solver'",
            used["exact-fallback"],
            len(params),
        )
    with contextlib.ExitStack() as stack:
        tmp_factors = stack.enter_context(atomic_path(out))
        if metrics_out is not None:
            tmp_metrics = stack.enter_context(atomic_path(metrics_out))
            labels = labels or {}
            frame = metrics_frame(rows, labels.get("run"), labels.get("step"))
            frame.to_csv(tmp_metrics, index=False)
        save_file(
            {key: value.contiguous() for key, value in tensors.items()},
            str(tmp_factors),
            metadata=metadata_strings(meta),
        )
    return meta
