"""Real RL on the toy base model: TRL's GRPOTrainer with a verifiable exact-match reward.

The run itself is ``rldynamics.checkpoints.rl.train_grpo``, the same for every base; the toy
world adds its plain-text prompts, its first-line reward and float32 checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from rldynamics.checkpoints.rl import RLConfig, train_grpo


def exact_match_reward(completions: list[str], answer: list[str], **_) -> list[float]:
    """1 for a completion whose text, up to the first newline, equals the answer; else 0."""
    return [float(text.split("\n")[0].strip() == ref) for text, ref in zip(completions, answer)]


def train_rl(
    base_dir: str | Path,
    train_items: list[dict],
    out: str | Path,
    rl: RLConfig,
    seed: int,
    threads: int | None = None,
) -> None:
    """Run GRPO from the base folder; ``out`` receives TRL's ``checkpoint-<step>`` folders."""
    train_grpo(base_dir, train_items, out, rl, seed, exact_match_reward, threads=threads)
