"""The parameter metrics over model folders: W0's share once per run, one checkpoint's table.

The base-metrics file (``rldynamics base-metrics``) is a safetensors file with, for every
selected parameter ``p`` (see :class:`rldynamics.decompose.param_metrics.BaseShare`):
``p.spectrum`` [min(m, n)] float64, ``p.U`` [m, r], ``p.S`` [r], ``p.V`` [n, r] float32,
``p.principal_threshold`` / ``p.low_threshold`` (float64 scalars), ``p.principal_ties`` /
``p.low_ties`` (int64 scalars) and ``p.fro`` = ‖W0‖F (float64 scalar), plus metadata: kind,
base, pattern, the metric settings it was built for, version. About (m + n)·r·4 + min(m, n)·8
bytes per matrix: 2.4 MB for a 12288 × 4096 matrix at r = 32.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from rldynamics import __version__
from rldynamics.core.errors import InputError
from rldynamics.core.io import (
    ModelWeights,
    atomic_path,
    check_pair_finite,
    metadata_strings,
    read_pair,
    write_csv,
)
from rldynamics.core.io import progress as progress_bar
from rldynamics.core.selection import DEFAULT_PARAM_PATTERN, select_params
from rldynamics.core.settings import MetricSettings
from rldynamics.decompose.lowrank import Workspace, resolve_device
from rldynamics.decompose.param_metrics import (
    BaseShare,
    base_share,
    check_share,
    matrix_metrics,
    metrics_frame,
)

KIND = "rldynamics-base-metrics"
PARTS = (
    "spectrum",
    "U",
    "S",
    "V",
    "principal_threshold",
    "principal_ties",
    "low_threshold",
    "low_ties",
    "fro",
)


def _selected(weights: ModelWeights, pattern: str) -> list[str]:
    params = select_params(weights.names(), pattern)
    if not params:
        raise InputError(f"{weights.folder}: no tensor matches the parameter pattern {pattern!r}")
    return params


def write_base_metrics(
    base_dir,
    out,
    pattern: str = DEFAULT_PARAM_PATTERN,
    settings: MetricSettings | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Compute W0's share of every selected matrix and write the base-metrics file atomically."""
    settings = settings or MetricSettings()
    target = resolve_device(device)
    base = ModelWeights(base_dir)
    tensors: dict[str, torch.Tensor] = {}
    params = _selected(base, pattern)
    for name in progress_bar(params, f"base metrics {base_dir}", not progress):
        w0 = base.get(name)
        if w0.ndim != 2:
            raise InputError(f"{base.folder}: tensor {name!r} is not a matrix ({tuple(w0.shape)})")
        if not bool(torch.isfinite(w0).all()):
            raise InputError(f"tensor {name!r} in {base.folder} holds NaN or Inf")
        share = base_share(w0.to(target), settings)
        tensors.update(
            {
                f"{name}.spectrum": share.spectrum,
                f"{name}.U": share.U,
                f"{name}.S": share.S,
                f"{name}.V": share.V,
                f"{name}.principal_threshold": torch.tensor(
                    share.principal[0], dtype=torch.float64
                ),
                f"{name}.principal_ties": torch.tensor(share.principal[1], dtype=torch.int64),
                f"{name}.low_threshold": torch.tensor(share.low[0], dtype=torch.float64),
                f"{name}.low_ties": torch.tensor(share.low[1], dtype=torch.int64),
                f"{name}.fro": torch.tensor(share.fro, dtype=torch.float64),
            }
        )
    meta = {
        "kind": KIND,
        "base": str(base_dir),
        "pattern": pattern,
        "angle_ranks": [int(k) for k in settings.angle_ranks],
        "mask_fraction": settings.mask_fraction,
        "mask_rank": settings.mask_rank,
        "params": len(params),
        "version": __version__,
        "torch": torch.__version__,
    }
    with atomic_path(out) as tmp:
        save_file(
            {key: value.cpu().contiguous() for key, value in tensors.items()},
            str(tmp),
            metadata=metadata_strings(meta),
        )
    return meta


class BaseMetrics:
    """Read access to a base-metrics file, matrix by matrix, checked against the settings."""

    def __init__(self, path, settings: MetricSettings):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"base-metrics file not found: {self.path}")
        try:
            self._handle = safe_open(str(self.path), framework="pt")
        except Exception as err:
            raise InputError(f"{self.path}: cannot read base-metrics file ({err})") from err
        meta = self._handle.metadata() or {}
        if meta.get("kind") != KIND:
            raise InputError(
                f"{self.path}: not a base-metrics file (metadata kind {meta.get('kind')!r})"
            )
        stored = (float(meta.get("mask_fraction", "nan")), int(meta.get("mask_rank", -1)))
        if stored != (settings.mask_fraction, settings.mask_rank):
            raise InputError(
                f"{self.path}: built for mask fraction {stored[0]} and mask rank {stored[1]}, "
                f"the metrics ask for {settings.mask_fraction} and {settings.mask_rank}"
            )
        self.settings = settings
        self._keys = set(self._handle.keys())

    def share(self, name: str, w0: torch.Tensor) -> BaseShare:
        """W0's share of ``name``, checked against the W0 read now."""
        missing = [part for part in PARTS if f"{name}.{part}" not in self._keys]
        if missing:
            raise InputError(f"{self.path}: tensor {name}.{missing[0]} is missing")
        get = {part: self._handle.get_tensor(f"{name}.{part}") for part in PARTS}
        share = BaseShare(
            spectrum=get["spectrum"].to(w0.device),
            U=get["U"].to(w0.device),
            S=get["S"].to(w0.device),
            V=get["V"].to(w0.device),
            principal=(float(get["principal_threshold"]), int(get["principal_ties"])),
            low=(float(get["low_threshold"]), int(get["low_ties"])),
            fro=float(get["fro"]),
        )
        check_share(share, w0, self.settings, f"{self.path}: {name}")
        return share


def checkpoint_metrics(
    base_dir,
    checkpoint_dir,
    out,
    pattern: str | None = None,
    settings: MetricSettings | None = None,
    device: str = "auto",
    labels: dict | None = None,
    progress: bool = True,
    base_metrics=None,
) -> pd.DataFrame:
    """The metrics CSV of one checkpoint on its own (``decompose`` can write it in its pass);
    ``base_metrics``: a base-metrics file with W0's share (else computed here)."""
    settings = settings or MetricSettings()
    pattern = pattern or DEFAULT_PARAM_PATTERN
    target = resolve_device(device)
    base, rl = ModelWeights(base_dir), ModelWeights(checkpoint_dir)
    shares = BaseMetrics(base_metrics, settings) if base_metrics else None
    params = _selected(base, pattern)
    rows: list[dict] = []
    workspace = Workspace()
    for name in progress_bar(params, f"metrics {checkpoint_dir}", not progress):
        w0, w1 = read_pair(base, rl, name)
        check_pair_finite(base, rl, w0, w1, name)
        w0, w1 = w0.to(target), w1.to(target)
        share = shares.share(name, w0) if shares else None
        rows += matrix_metrics(w0, w1, settings, name, share, workspace)
    labels = labels or {}
    frame = metrics_frame(rows, labels.get("run"), labels.get("step"))
    write_csv(out, frame)
    return frame
