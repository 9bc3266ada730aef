"""Shared helpers: tiny HF-style model folders written with safetensors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]


def write_model(folder: Path, tensors: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "toy-test"}))
    return folder


def tiny_weights(seed: int = 0, layers: int = 2, d: int = 12, ff: int = 20) -> dict:
    gen = torch.Generator().manual_seed(seed)
    tensors = {"model.embed_tokens.weight": torch.randn(30, d, generator=gen)}
    for i in range(layers):
        p = f"model.layers.{i}"
        for name, shape in [
            ("self_attn.q_proj", (d, d)),
            ("self_attn.k_proj", (d // 2, d)),
            ("self_attn.v_proj", (d // 2, d)),
            ("self_attn.o_proj", (d, d)),
            ("mlp.gate_proj", (ff, d)),
            ("mlp.up_proj", (ff, d)),
            ("mlp.down_proj", (d, ff)),
        ]:
            tensors[f"{p}.{name}.weight"] = torch.randn(*shape, generator=gen)
        tensors[f"{p}.self_attn.q_proj.bias"] = torch.randn(d, generator=gen)
        tensors[f"{p}.input_layernorm.weight"] = torch.ones(d)
    tensors["model.norm.weight"] = torch.ones(d)
    return tensors


@pytest.fixture
def model_pair(tmp_path):
    """A base folder and an 'RL' folder whose every tensor moved by a small random update."""
    base = tiny_weights(0)
    gen = torch.Generator().manual_seed(1)
    rl = {k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in base.items()}
    return write_model(tmp_path / "base", base), write_model(tmp_path / "rl", rl), base, rl


def write_sharded_model(folder: Path, tensors: dict[str, torch.Tensor], shards: int = 2) -> Path:
    """An HF folder with the tensors split over ``shards`` files and an index."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(tensors)
    weight_map = {}
    for i in range(shards):
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n].contiguous() for n in names[i::shards]}
        save_file(part, str(folder / fname))
        weight_map.update({n: fname for n in part})
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps({"model_type": "toy-test"}))
    return folder


def planted(m: int, n: int, spectrum, seed: int = 0) -> torch.Tensor:
    """A float32 matrix U diag(spectrum) Vᵀ with random orthonormal U, V (len(spectrum) ≤ m, n)."""
    gen = torch.Generator().manual_seed(seed)
    r = len(spectrum)
    U = torch.linalg.qr(torch.randn(m, r, generator=gen, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(n, r, generator=gen, dtype=torch.float64))[0]
    s = torch.as_tensor(spectrum, dtype=torch.float64)
    return ((U * s) @ V.T).float()


def rl_like_spectrum(r: int, dominance: float = 4.0, decay: float = 1.0) -> list[float]:
    """A dominant direction over a slowly decaying tail: σ1 = dominance·σ2, σi ∝ i^-decay."""
    tail = [i ** (-decay) for i in range(1, r + 1)]
    return [dominance * tail[1]] + tail[1:]
