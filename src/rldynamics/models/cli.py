"""The base model's commands: ``rl-task`` (a real base's task data), ``import-model``,
``import-gguf`` and ``download``."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("rldynamics")


def cmd_rl_task(args) -> None:
    from rldynamics.models.rl_task import addition_splits, write_items

    prompt = {"prompt": args.prompt} if args.prompt else {}
    train, test = addition_splits(args.operand_max, args.n_train, args.n_test, args.seed, **prompt)
    write_items(Path(args.out_dir) / "train.jsonl", train)
    write_items(Path(args.out_dir) / "test.jsonl", test)
    log.info("wrote %d train and %d held-out items to %s", len(train), len(test), args.out_dir)


def cmd_import_model(args) -> None:
    from rldynamics.models.sources import copy_model

    copy_model(args.source, args.out)
    log.info("model %s → %s", args.source, args.out)


def cmd_import_gguf(args) -> None:
    from rldynamics.models.gguf_import import import_gguf

    record = import_gguf(args.source, args.out)
    log.info("%s (%s) → %s", record["file"], record["conversion"], args.out)


def cmd_download(args) -> None:
    from rldynamics.models.sources import download

    download(args.repo, args.revision, args.out)
    log.info("%s@%s → %s", args.repo, args.revision, args.out)


# --- parsers ------------------------------------------------------------------------------


def _add_rl_task(sub) -> None:
    p = sub.add_parser("rl-task", help="write the additions of a real base's RL run (JSONL)")
    p.add_argument("--operand-max", type=int, default=19)
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--prompt", default=None, help="question with {a} and {b}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_rl_task)


def _add_import_model(sub) -> None:
    p = sub.add_parser("import-model", help="take an HF model folder's weights and side files")
    p.add_argument("--source", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_import_model)


def _add_import_gguf(sub) -> None:
    p = sub.add_parser("import-gguf", help="convert a GGUF file into an HF model folder (bf16)")
    p.add_argument("--source", required=True, help="a .gguf path or package:<module>/<file>")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_import_gguf)


def _add_download(sub) -> None:
    p = sub.add_parser("download", help="fetch an HF Hub model (safetensors only) as a folder")
    p.add_argument("--repo", required=True)
    p.add_argument("--revision", default="main")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_download)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (
        _add_rl_task,
        _add_import_model,
        _add_import_gguf,
        _add_download,
    ):
        add(sub)
