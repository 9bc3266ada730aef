"""Files in and out: atomic writes, streaming tensor reads from HF model folders, tables.

Every output is written under a temporary name beside its final path and renamed into place
only when complete, so an interrupted job never leaves a half-written result behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import safe_open

from rldynamics.core.errors import InputError

if TYPE_CHECKING:  # torch is imported where tensors are read or written: commands that only
    import torch  # read tables start without it (a second or two per job)

# Files of an HF model folder that are not weights and travel unchanged into derived models.
MODEL_SIDE_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "chat_template.jinja",
)


@contextlib.contextmanager
def atomic_path(final: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory and final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, object) of every non-blank line; a line that is not a JSON object is named."""
    path = Path(path)
    items = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{lineno}: not valid JSON ({err.msg})") from err
        if not isinstance(item, dict):
            raise InputError(f"{path}:{lineno}: expected a JSON object")
        items.append((lineno, item))
    if not items:
        raise InputError(f"{path}: the file holds no items")
    return items


def write_csv(path: str | Path, frame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def metadata_strings(metadata: dict) -> dict[str, str]:
    """Safetensors metadata holds strings: non-strings are stored as JSON."""
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict) -> None:
    """Write a safetensors file atomically; metadata values are stored as strings."""
    from safetensors.torch import save_file

    meta = metadata_strings(metadata)
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class ModelWeights:
    """Read-only, tensor-by-tensor access to the safetensors weights of an HF model folder.

    Accepts a single ``model.safetensors`` or sharded files with an index. Tensors are read one
    at a time, so memory stays bounded by the largest tensor, not by the model.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"model folder not found: {self.folder}")
        index = self.folder / "model.safetensors.index.json"
        single = self.folder / "model.safetensors"
        if index.exists():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError) as err:
                raise InputError(f"{index}: not a safetensors index ({err})") from err
            self.files = {name: self.folder / fname for name, fname in weight_map.items()}
        elif single.exists():
            self.files = {name: single for name in self._keys(single)}
        else:
            found = sorted(p.name for p in self.folder.glob("*.safetensors"))
            if not found:
                pickled = sorted(p.name for p in self.folder.glob("*.pt")) + sorted(
                    p.name for p in self.folder.glob("*.bin")
                )
                hint = (
                    f" (it holds pickled weights {pickled[:3]}: convert them to safetensors "
                    "first, for a verl actor folder with `python -m verl.model_merger merge "
                    "--backend fsdp --local_dir <actor> --target_dir <actor>/huggingface`)"
                    if pickled
                    else ""
                )
                raise InputError(
                    f"{self.folder}: no model.safetensors (nor an index of shards); "
                    f"only safetensors weights are read, never pickled files{hint}"
                )
            self.files = {}
            for fname in found:
                for name in self._keys(self.folder / fname):
                    self.files[name] = self.folder / fname

    @staticmethod
    def _keys(path: Path) -> list[str]:
        try:
            with safe_open(str(path), framework="pt") as handle:
                return list(handle.keys())
        except Exception as err:  # safetensors raises several types for corrupt headers
            raise InputError(f"{path}: cannot read safetensors header ({err})") from err

    def names(self) -> list[str]:
        return list(self.files)

    def get(self, name: str) -> torch.Tensor:
        if name not in self.files:
            raise InputError(f"{self.folder}: tensor {name!r} is missing")
        path = self.files[name]
        try:
            with safe_open(str(path), framework="pt") as handle:
                return handle.get_tensor(name)
        except Exception as err:
            raise InputError(f"{path}: cannot read tensor {name!r} ({err})") from err

    def weight_files(self) -> list[Path]:
        return sorted(set(self.files.values()))


def model_dtype(folder: str | Path) -> str:
    """The dtype a model folder loads in with dtype "auto": its config's, else its weights'."""
    folder = Path(folder)
    config = folder / "config.json"
    if config.exists():
        try:
            settings = json.loads(config.read_text())
        except json.JSONDecodeError as err:
            raise InputError(f"{config}: not valid JSON ({err})") from err
        stated = settings.get("dtype") or settings.get("torch_dtype")
        if isinstance(stated, str):
            return stated.removeprefix("torch.")
    weights = ModelWeights(folder)
    for name in weights.names():
        tensor = weights.get(name)
        if tensor.is_floating_point():
            return str(tensor.dtype).removeprefix("torch.")
    raise InputError(f"{folder}: no floating-point tensor to tell the model's dtype")


def resident_bytes() -> int | None:
    """The process's resident set size now (Linux), or None where /proc is not there."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def release_freed_memory(above: int = 0) -> None:
    """Hand memory freed by the C allocator back to the system (glibc's malloc_trim).

    Matrices of different sizes, allocated and freed in turn, fragment glibc's heap (its mmap
    threshold grows with every large block freed), so the resident size creeps far above the
    few matrices alive (1.6 GB instead of 0.3 GB over the 168 matrices of a 0.5B model).
    Trimming costs page faults later, so it is done only when the resident size exceeds
    ``above`` bytes. A no-op where the C library has no malloc_trim.
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if not _malloc_trim:
        return
    resident = resident_bytes()
    if resident is None or resident > above:
        _malloc_trim(0)


_malloc_trim = None


def copy_side_files(source: str | Path, target: str | Path) -> None:
    """Copy config, generation config and tokenizer files of a model folder (not weights)."""
    for name in MODEL_SIDE_FILES:
        src = Path(source) / name
        if src.exists():
            shutil.copy2(src, Path(target) / name)


def load_factors(path: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """Read a factor file into {param: {"U", "S", "V", "fro"}} and its metadata."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"factor file not found: {path}")
    factors: dict[str, dict[str, torch.Tensor]] = {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            for key in handle.keys():
                param, _, part = key.rpartition(".")
                factors.setdefault(param, {})[part] = handle.get_tensor(key)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{path}: cannot read factor file ({err})") from err
    for param, parts in factors.items():
        missing = {"U", "S", "V", "fro"} - set(parts)
        if missing:
            raise InputError(f"{path}: {param} lacks {sorted(missing)}")
    return factors, {k: _maybe_json(v) for k, v in meta.items()}


def _maybe_json(value: str):
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


def progress(iterable, desc: str, disable: bool = False, **kwargs):
    """A tqdm progress bar; redrawn every 10 s when the output is a log file, not a terminal."""
    import sys

    from tqdm import tqdm

    interval = 0.1 if sys.stderr.isatty() else 10.0
    return tqdm(iterable, desc=desc, disable=disable, mininterval=interval, **kwargs)


# --- the README's generated blocks (disk plan, compute plans, claims) ---------------------


def replace_between(document: str, text: str, source, begin: str, end: str) -> str:
    """``document`` with the text between ``begin`` and ``end`` replaced by ``text``."""
    if begin not in document or end not in document:
        raise InputError(f"{source}: no {begin} … {end} block to fill")
    head, rest = document.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{text}{end}{tail}"


# --- a (base, checkpoint) pair of one parameter, read as stored and checked ---------------
# Both the decomposition and the parameter metrics read their tensors through here.


def read_pair(base: ModelWeights, rl: ModelWeights, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_base, W_rl) of one parameter as stored, with equal shapes checked."""
    w0 = base.get(name)
    w1 = rl.get(name)
    if w0.shape != w1.shape:
        raise InputError(
            f"tensor {name!r}: shape {tuple(w1.shape)} in {rl.folder} differs from "
            f"{tuple(w0.shape)} in {base.folder}"
        )
    return w0, w1


def check_pair_finite(base: ModelWeights, rl: ModelWeights, w0, w1, name: str) -> None:
    """Name the folder whose tensor ``name`` holds NaN or Inf."""
    import torch

    for weights, tensor in ((base, w0), (rl, w1)):
        if not bool(torch.isfinite(tensor).all()):
            raise InputError(f"tensor {name!r} in {weights.folder} holds NaN or Inf")


def save_figure(fig, stem: str | Path) -> None:
    """``<stem>.png`` and ``<stem>.pdf`` of a matplotlib figure, each written atomically."""
    import matplotlib.pyplot as plt

    for fmt in ("png", "pdf"):
        with atomic_path(f"{stem}.{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
    plt.close(fig)
