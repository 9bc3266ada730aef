"""The scoring stage's commands: ``evaluate`` (several models a process, each built from its
recipe), ``gather`` (the tidy results table) and ``build`` (a rank-k or AlphaRL model on disk)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rldynamics.core.errors import InputError
from rldynamics.evaluate.job import ScoringJob

log = logging.getLogger("rldynamics")


def _read_spec(text: str) -> tuple[dict, str]:
    """A scoring spec: inline JSON or the path of a JSON file; with how it was given."""
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text), "--spec (inline JSON)"
        return json.loads(Path(text).read_text()), f"--spec {text}"
    except FileNotFoundError as err:
        raise InputError(f"scoring spec file not found: {text}") from err
    except json.JSONDecodeError as err:
        raise InputError(f"scoring spec is not valid JSON ({err})") from err


def scoring_job(args) -> ScoringJob:
    """The job of an evaluate command: its --spec, or one model folder on one task (--model,
    --task) with the task's own sampling settings."""
    if args.spec:
        return ScoringJob.from_spec(*_read_spec(args.spec))
    if args.model and args.task:
        spec = {
            "run": args.run,
            "base": args.base or args.model,
            "benchmarks": [{"name": Path(args.task).stem, "task": args.task, "data": args.data}],
            "models": [{"key": args.model, "folder": args.model, "model_kind": args.kind}],
            "batch_size": args.batch_size,
            "device": args.device,
            "limit": args.limit,
            "seed": args.seed,
        }
        return ScoringJob.from_spec(spec, "--model/--task")
    raise InputError("evaluate needs --spec, or --model and --task")


def cmd_build(args) -> None:
    from rldynamics.evaluate.build import build_model

    counts = build_model(
        args.base,
        args.factors,
        args.rank,
        args.out,
        args.scale,
        args.lam,
        rest=args.rest,
        checkpoint=args.checkpoint,
    )
    log.info(
        "rank-%s model (scale %s, λ %g, rest %s: %d rank-k, %d base, %d rl tensors) → %s",
        args.rank,
        args.scale,
        args.lam,
        args.rest,
        counts["rank-k"],
        counts["base"],
        counts["rl"],
        args.out,
    )


def cmd_evaluate(args) -> None:
    from rldynamics.evaluate.scoring import score_models

    job = scoring_job(args)
    table = score_models(job, args.out_csv, args.out_json, args.out_items, args.out_completions)
    log.info("%d result rows for %d models → %s", len(table), len(job.models), args.out_csv)


def cmd_gather(args) -> None:
    import pandas as pd

    from rldynamics.core.io import write_csv
    from rldynamics.evaluate.summary import concat_results

    frames = [pd.read_csv(p, dtype={"k": str, "variant": str}) for p in args.inputs]
    table = concat_results(frames)
    write_csv(args.out, table)
    log.info("%d result rows from %d evaluations → %s", len(table), len(frames), args.out)


# --- parsers ------------------------------------------------------------------------------


def _add_build(sub) -> None:
    p = sub.add_parser("build", help="rank-k model W0 + λ·c·ΔW(k) as an HF folder")
    p.add_argument("--base", required=True)
    p.add_argument("--factors", required=True)
    p.add_argument("--rank", required=True, help="positive integer or 'full'")
    p.add_argument("--scale", choices=["frobenius", "none"], default="frobenius")
    p.add_argument("--lam", type=float, default=1.0)
    p.add_argument(
        "--rest",
        choices=["base", "rl"],
        default="base",
        help="tensors not decomposed: base keeps them all; rl takes the 1-D ones (norms, "
        "biases) from the RL checkpoint",
    )
    p.add_argument(
        "--checkpoint",
        help="RL checkpoint folder for --rest rl (default: the one the factor file records)",
    )
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_build)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score models with lm-eval (several per process)")
    p.add_argument("--spec", help="scoring spec: JSON text or a JSON file (see evaluate/job.py)")
    p.add_argument("--model", help="without --spec: one model folder")
    p.add_argument("--base", help="without --spec: the folder the model is loaded from first")
    p.add_argument("--task", help="without --spec: an lm-eval task YAML")
    p.add_argument("--data", help="without --spec: local data file of the task's test split")
    p.add_argument("--run", default="by-hand")
    p.add_argument("--kind", default="checkpoint")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-items", help="per-item verdicts (CSV: samples and correct per item)")
    p.add_argument(
        "--out-completions",
        help="the completions, gzip JSON lines (written when the spec's log_samples is on)",
    )
    p.set_defaults(func=cmd_evaluate)


def _add_gather(sub) -> None:
    p = sub.add_parser("gather", help="concatenate per-evaluation tidy CSVs into one table")
    p.add_argument("--out", required=True)
    p.add_argument("inputs", nargs="+")
    p.set_defaults(func=cmd_gather)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (
        _add_build,
        _add_evaluate,
        _add_gather,
    ):
        add(sub)
