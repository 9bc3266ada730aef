"""The checkpoint series' commands: ``rl`` (GRPO from any HF base), ``collect`` and ``manifest``
(a trainer's folders laid out as step-<N>/ with checksums) and ``provenance``."""

from __future__ import annotations

import logging
from pathlib import Path

from rldynamics.checkpoints.rl import RLConfig
from rldynamics.core.errors import InputError
from rldynamics.core.settings import add_dataclass_args, dataclass_from

log = logging.getLogger("rldynamics")


def cmd_rl(args) -> None:
    from rldynamics.checkpoints.rl import RLConfig, graded_reward, train_grpo
    from rldynamics.models.rl_task import read_items

    rl = dataclass_from(args, RLConfig, "rl-")
    train_grpo(
        args.base,
        read_items(args.train),
        args.out,
        rl,
        args.seed,
        graded_reward(args.answer_form),
        threads=args.threads,
        chat_template=args.chat_template,
        checkpoint_dtype=args.checkpoint_dtype,
    )


def cmd_collect(args) -> None:
    from rldynamics.checkpoints.collect import collect

    collect(args.source, args.steps, args.out_dir, args.manifest)
    log.info("collected %d checkpoints into %s", len(args.steps), args.out_dir)


def cmd_manifest(args) -> None:
    from rldynamics.checkpoints.collect import write_manifest
    from rldynamics.checkpoints.series import STEP_FOLDER

    if args.sources and len(args.sources) != len(args.folders):
        raise InputError("manifest: give one --sources entry per folder, in order")
    folders, sources = {}, {}
    for i, folder in enumerate(map(Path, args.folders)):
        match = STEP_FOLDER.match(folder.name)
        if not match:
            raise InputError(f"{folder}: not a step-<N> or checkpoint-<N> folder")
        folders[int(match.group(1))] = folder
        if args.sources:
            sources[int(match.group(1))] = args.sources[i]
    write_manifest(folders, args.out, sources)
    log.info("manifest of %d checkpoints → %s", len(folders), args.out)


def cmd_provenance(args) -> None:
    from rldynamics.checkpoints.provenance import write_provenance

    record = write_provenance(args.config, args.manifest, args.base, args.out)
    log.info("provenance (config sha256 %s) → %s", record["config_sha256"][:12], args.out)


# --- parsers ------------------------------------------------------------------------------


def _add_rl(sub) -> None:
    p = sub.add_parser(
        "rl", help="GRPO (TRL) from any HF base on a graded task, saving checkpoints"
    )
    p.add_argument("--base", required=True)
    p.add_argument("--train", required=True, help="JSONL of {question, answer}")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument(
        "--answer-form", default="boxed", help="rldynamics.core.grading form of the reward"
    )
    p.add_argument("--chat-template", action="store_true", help="prompt as a chat user turn")
    p.add_argument("--checkpoint-dtype", default="bfloat16", help="dtype of saved checkpoints")
    add_dataclass_args(p, RLConfig, "rl-")
    p.set_defaults(func=cmd_rl)


def _add_collect(sub) -> None:
    p = sub.add_parser("collect", help="lay out checkpoint-<N> folders as step-<N> + manifest")
    p.add_argument("--source", required=True)
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--manifest", required=True)
    p.set_defaults(func=cmd_collect)


def _add_manifest(sub) -> None:
    p = sub.add_parser("manifest", help="checksum manifest of collected step-<N> folders")
    p.add_argument("--out", required=True)
    p.add_argument("--sources", nargs="+", help="where each folder was taken from (same order)")
    p.add_argument("folders", nargs="+")
    p.set_defaults(func=cmd_manifest)


def _add_provenance(sub) -> None:
    p = sub.add_parser("provenance", help="record versions, config hash and input checksums")
    p.add_argument("--config", required=True, help="the run's validated config as JSON")
    p.add_argument("--manifest", required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_provenance)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (
        _add_rl,
        _add_collect,
        _add_manifest,
        _add_provenance,
    ):
        add(sub)
