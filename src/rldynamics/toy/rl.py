"""Real RL on the toy base model: TRL's GRPOTrainer with a verifiable exact-match reward.

The trainer writes ``checkpoint-<step>/`` folders the way any TRL run does; the pipeline then
collects them with the same code that collects a user's own TRL output.
"""

from __future__ import annotations

from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from rldynamics.io import atomic_path
from rldynamics.toy.config import RLConfig


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
    from trl import GRPOConfig, GRPOTrainer  # heavy import, only where RL runs

    if threads:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    dataset = Dataset.from_list(
        [{"prompt": item["question"], "answer": item["answer"]} for item in train_items]
    )
    with atomic_path(out, directory=True) as tmp:
        args = GRPOConfig(
            output_dir=str(tmp),
            max_steps=rl.steps,
            save_steps=rl.save_every,
            save_only_model=True,
            learning_rate=rl.lr,
            lr_scheduler_type="constant",
            per_device_train_batch_size=rl.batch_size,
            num_generations=rl.num_generations,
            temperature=rl.temperature,
            max_completion_length=rl.max_completion_length,
            loss_type=rl.loss_type,
            gradient_checkpointing=False,
            use_cpu=True,
            bf16=False,
            logging_steps=max(1, rl.save_every),
            report_to="none",
            seed=seed,
            data_seed=seed,
            disable_tqdm=False,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=exact_match_reward,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        trainer.train()
