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


def checked_update(
    base: ModelWeights, rl: ModelWeights, name: str, target: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W_base, W_rl on ``target`` as stored, ΔW in float32, ‖ΔW‖F), shape and finiteness
    checked."""
    w0, w1 = read_pair(base, rl, name)
    w0, w1 = w0.to(target), w1.to(target)
    delta = form_delta(w0, w1)
    fro = torch.linalg.vector_norm(delta)
    check_finite(delta, fro, (base, rl, w0, w1), name)
    return w0, w1, delta, fro


def matrix_metrics_function(metric_settings: MetricSettings | None, base_metrics):
    """The Path Not Taken metrics of one matrix, as (name, W0, W1, workspace) → rows, with
    W0's share from ``base_metrics`` when given (read now), else computed per matrix."""
    from rldynamics.decompose.metrics_files import BaseMetrics
    from rldynamics.decompose.param_metrics import matrix_metrics

    settings = metric_settings or MetricSettings()
    shares = BaseMetrics(base_metrics, settings) if base_metrics else None

    def rows_of(name: str, w0: torch.Tensor, w1: torch.Tensor, workspace: Workspace) -> list:
        share = shares.share(name, w0) if shares else None
        return matrix_metrics(w0, w1, settings, name, share, workspace)

    return rows_of


def factor_pass(
    base: ModelWeights,
    rl: ModelWeights,
    params: list[str],
    target: torch.device,
    k: int | None,
    method: str,
    guard: Guard,
    seed: int,
    metrics=None,
    desc: str = "decompose",
    progress: bool = True,
) -> tuple[dict[str, torch.Tensor], dict[str, dict], list[dict], dict[str, set[str]]]:
    """(factor tensors by key, on the CPU; solver record per matrix; metric rows; stored dtypes of
    base and checkpoint) of every matrix of ``params``, one matrix in memory at a time.

    ``metrics``: a :func:`matrix_metrics_function`, or None for no metrics.
    """
    tensors: dict[str, torch.Tensor] = {}
    solver: dict[str, dict] = {}
    rows: list[dict] = []
    dtypes = {"base": set(), "checkpoint": set()}
    baseline = resident_bytes() or 0
    largest = 0
    workspace = Workspace()
    for name in progress_bar(params, desc, not progress):
        w0, w1, delta, fro = checked_update(base, rl, name, target)
        dtypes["base"].add(str(w0.dtype).removeprefix("torch."))
        dtypes["checkpoint"].add(str(w1.dtype).removeprefix("torch."))
        U, S, V, fro, result = factorize(delta, k, name, method, guard, seed, fro, workspace)
        del delta
        tensors[f"{name}.U"], tensors[f"{name}.S"] = U.cpu(), S.cpu()
        tensors[f"{name}.V"], tensors[f"{name}.fro"] = V.cpu(), fro.cpu()
        solver[name] = result.record()
        if metrics is not None:
            rows += metrics(name, w0, w1, workspace)
        # Keep the resident size within a few matrices of the start (heap fragmentation).
        largest = max(largest, 4 * w0.numel())
        del w0, w1, result
        release_freed_memory(above=baseline + 16 * largest)
    return tensors, solver, rows, dtypes


def require_an_update(
    tensors: dict[str, torch.Tensor], params: list[str], base_dir, checkpoint_dir
):
    """Raise when ΔW = 0 in every matrix: the checkpoint is the base, or a copy of it."""
    if all(float(tensors[f"{name}.fro"]) == 0.0 for name in params):
        raise InputError(
            f"checkpoint {checkpoint_dir} is identical to the base {base_dir} in every "
            "decomposed matrix (ΔW = 0): is it the right checkpoint?"
        )


def factor_metadata(
    base_dir,
    checkpoint_dir,
    k: int | None,
    method: str,
    used: Counter,
    target: torch.device,
    dtypes: dict[str, set[str]],
    pattern: str,
    seed: int,
    guard: Guard,
    solver: dict[str, dict],
) -> dict:
    """The factor file's metadata (``used``: how many matrices each solver method decomposed)."""
    return {
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


def warn_fallbacks(used: Counter, total: int) -> None:
    """Log how many of ``total`` matrices fell back to the exact SVD, if any did."""
    if used.get("exact-fallback"):
        log.warning(
            "%d of %d matrices fell back to the exact SVD (flat spectrum): see metadata 'solver'",
            used["exact-fallback"],
            total,
        )


def write_factor_files(
    out: str | Path,
    tensors: dict[str, torch.Tensor],
    meta: dict,
    metrics_out: str | Path | None = None,
    rows: list[dict] | None = None,
    labels: dict | None = None,
) -> None:
    """Write the factor file (and, with ``metrics_out``, the metrics CSV of ``rows``): both or
    neither."""
    with contextlib.ExitStack() as stack:
        tmp_factors = stack.enter_context(atomic_path(out))
        if metrics_out is not None:
            from rldynamics.decompose.param_metrics import metrics_frame

            tmp_metrics = stack.enter_context(atomic_path(metrics_out))
            labels = labels or {}
            frame = metrics_frame(rows, labels.get("run"), labels.get("step"))
            frame.to_csv(tmp_metrics, index=False)
        save_file(
            {key: value.contiguous() for key, value in tensors.items()},
            str(tmp_factors),
            metadata=metadata_strings(meta),
        )


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
    metrics = None
    if metrics_out is not None:
        metrics = matrix_metrics_function(metric_settings, base_metrics)
    desc = f"decompose {Path(checkpoint_dir).name}"
    tensors, solver, rows, dtypes = factor_pass(
        base, rl, params, target, k, method, guard, seed, metrics, desc, progress
    )
    require_an_update(tensors, params, base_dir, checkpoint_dir)
    used = Counter(entry["method"] for entry in solver.values())
    meta = factor_metadata(
        base_dir, checkpoint_dir, k, method, used, target, dtypes, pattern, seed, guard, solver
    )
    warn_fallbacks(used, len(params))
    write_factor_files(out, tensors, meta, metrics_out, rows, labels)
    return meta
