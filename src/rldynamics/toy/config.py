"""Settings of the toy world (plain dataclasses: the command line builds its flags from them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ArchConfig:
    hidden_size: int = 128
    intermediate_size: int = 512
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    max_positions: int = 32


@dataclass
class WarmupConfig:
    steps: int = 3000
    lr: float = 1e-3
    batch_size: int = 64
    wrong_fraction: float = 0.6
