"""The toy world's commands: ``toy-task``, ``toy-base`` (tokenizer, tiny LM and its warm-up) and
``toy-rl`` (GRPO on it)."""

from __future__ import annotations

import logging
from pathlib import Path

from rldynamics.checkpoints.rl import RLConfig
from rldynamics.core.settings import add_dataclass_args, dataclass_from
from rldynamics.toy.config import ArchConfig, WarmupConfig

log = logging.getLogger("rldynamics")


def cmd_toy_task(args) -> None:
    from rldynamics.models.rl_task import write_items
    from rldynamics.toy.task import generate_splits

    train, test = generate_splits(args.digits, args.n_train, args.n_test, args.seed)
    write_items(Path(args.out_dir) / "train.jsonl", train)
    write_items(Path(args.out_dir) / "test.jsonl", test)
    log.info("wrote %d train and %d held-out items to %s", len(train), len(test), args.out_dir)


def cmd_toy_base(args) -> None:
    import torch

    from rldynamics.models.rl_task import read_items
    from rldynamics.toy.config import ArchConfig, WarmupConfig
    from rldynamics.toy.model import greedy_accuracy, train_base

    if args.threads:
        torch.set_num_threads(args.threads)
    train = read_items(args.train)
    arch = dataclass_from(args, ArchConfig)
    warmup = dataclass_from(args, WarmupConfig, "warmup-")
    losses = train_base(train, args.out, arch, warmup, args.seed)
    log.info(
        "warm-up: final loss %.4f after %d steps",
        losses[-1] if losses else float("nan"),
        len(losses),
    )
    if args.test:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args.out)
        tokenizer = AutoTokenizer.from_pretrained(args.out)
        acc = greedy_accuracy(model, tokenizer, read_items(args.test))
        log.info("base model greedy held-out accuracy (quick check, not lm-eval): %.3f", acc)


def cmd_toy_rl(args) -> None:
    from rldynamics.checkpoints.rl import RLConfig
    from rldynamics.models.rl_task import read_items
    from rldynamics.toy.rl import train_rl

    rl = dataclass_from(args, RLConfig, "rl-")
    train_rl(args.base, read_items(args.train), args.out, rl, args.seed, threads=args.threads)


# --- parsers ------------------------------------------------------------------------------


def _add_toy_task(sub) -> None:
    p = sub.add_parser("toy-task", help="write the toy task's train and held-out JSONL")
    p.add_argument("--digits", type=int, default=2)
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_toy_task)


def _add_toy_base(sub) -> None:
    p = sub.add_parser("toy-base", help="build tokenizer and tiny LM, warm it up, save HF folder")
    p.add_argument("--train", required=True)
    p.add_argument("--test", help="held-out JSONL for a quick greedy accuracy in the log")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    add_dataclass_args(p, ArchConfig)
    add_dataclass_args(p, WarmupConfig, "warmup-")
    p.set_defaults(func=cmd_toy_base)


def _add_toy_rl(sub) -> None:
    p = sub.add_parser("toy-rl", help="GRPO (TRL) on the toy base model, saving checkpoints")
    p.add_argument("--base", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    add_dataclass_args(p, RLConfig, "rl-")
    p.set_defaults(func=cmd_toy_rl)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (
        _add_toy_task,
        _add_toy_base,
        _add_toy_rl,
    ):
        add(sub)
