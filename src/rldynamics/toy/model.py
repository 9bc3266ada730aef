"""The toy base model: a tiny Qwen2 decoder, taught the task by a short supervised warm-up.

The warm-up targets are the right answer, or with probability ``wrong_fraction`` the
carry-dropped one; the base model thus leans to a systematic mistake that RL can unlearn.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from rldynamics.core.io import atomic_path
from rldynamics.core.io import progress as progress_bar
from rldynamics.toy.config import ArchConfig, WarmupConfig
from rldynamics.toy.tokenizer import build_tokenizer


def new_model(arch: ArchConfig, tokenizer, seed: int) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_layers,
        num_attention_heads=arch.num_heads,
        num_key_value_heads=arch.num_kv_heads,
        max_position_embeddings=arch.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return Qwen2ForCausalLM(config)


def token_ids(tokenizer):
    """The tokenizer's ids of a text, memoised: the warm-up meets each question and answer
    thousands of times, and encoding them anew was a fifth of its time."""

    @functools.cache
    def encode(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])

    return encode


def warmup_batch(
    items: list[dict], tokenizer, wrong_fraction: float, rng: random.Random, encode=None
):
    """Right-padded sequences prompt+target+eos, loss only on target and eos."""
    encode = encode or token_ids(tokenizer)
    ids, labels = [], []
    for item in items:
        target = item["carry_dropped"] if rng.random() < wrong_fraction else item["answer"]
        prompt = list(encode(item["question"]))
        answer = list(encode(target)) + [tokenizer.eos_token_id]
        ids.append(prompt + answer)
        labels.append([-100] * len(prompt) + answer)
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in ids])
    label_ids = torch.tensor([s + [-100] * (width - len(s)) for s in labels])
    return input_ids, (input_ids != pad).long(), label_ids


def train_base(
    train_items: list[dict],
    out: str | Path,
    arch: ArchConfig,
    warmup: WarmupConfig,
    seed: int,
    progress: bool = True,
) -> list[float]:
    """Create, warm up and save the base model folder; returns the loss curve."""
    tokenizer = build_tokenizer()
    model = new_model(arch, tokenizer, seed)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=warmup.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=warmup.lr, total_steps=max(warmup.steps, 1), pct_start=0.1
    )
    losses = []
    model.train()
    encode = token_ids(tokenizer)
    bar = progress_bar(range(warmup.steps), "warm-up", disable=not progress)
    for _ in bar:
        batch = rng.sample(train_items, min(warmup.batch_size, len(train_items)))
        input_ids, mask, labels = warmup_batch(batch, tokenizer, warmup.wrong_fraction, rng, encode)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    with atomic_path(out, directory=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return losses


@torch.no_grad()
def greedy_accuracy(model, tokenizer, items: list[dict], max_new_tokens: int = 8) -> float:
    """Quick greedy exact-match accuracy (for logs; the benchmark scores come from lm-eval)."""
    tokenizer.padding_side = "left"
    prompts = [item["question"] for item in items]
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    out = model.generate(
        **enc,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    right = sum(t.strip() == item["answer"] for t, item in zip(texts, items))
    return right / max(len(items), 1)
