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
