"""The command line: ``rldynamics <subcommand>`` (or ``python -m rldynamics``).

Each Snakemake rule calls one subcommand; each works the same by hand. Expected bad input
ends with a one-line error naming the file, tensor or key at fault (exit status 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from rldynamics import __version__
from rldynamics.cli_args import parse_metrics
from rldynamics.cli_claims import add_claims_parsers
from rldynamics.cli_forecast import add_forecast_parsers
from rldynamics.cli_metrics import (
    add_base_metrics_arg,
    add_base_metrics_parser,
    add_metric_settings_args,
    metric_settings,
    set_threads,
)
from rldynamics.cli_plan import add_plan_parser
from rldynamics.cli_profile import add_profile_parser
from rldynamics.errors import InputError
from rldynamics.run_profile import ImportClock, process_age, startup_line

log = logging.getLogger("rldynamics")


_metrics = parse_metrics


def _read_results(path):
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"results table not found: {path}")
    return pd.read_csv(path, dtype={"k": str, "variant": str})


def _add_dataclass_args(parser, cls, prefix: str = "") -> None:
    for field in dataclasses.fields(cls):
        parser.add_argument(
            f"--{prefix}{field.name.replace('_', '-')}",
            dest=f"{prefix.replace('-', '_')}{field.name}",
            type=type(field.default),
            default=field.default,
            help=f"(default {field.default})",
        )


def _dataclass_from(args, cls, prefix: str = ""):
    key = prefix.replace("-", "_")
    return cls(**{f.name: getattr(args, f"{key}{f.name}") for f in dataclasses.fields(cls)})


# --- subcommands -------------------------------------------------------------------------


def cmd_toy_task(args) -> None:
    from rldynamics.toy.task import generate_splits, write_jsonl

    train, test = generate_splits(args.digits, args.n_train, args.n_test, args.seed)
    write_jsonl(Path(args.out_dir) / "train.jsonl", train)
    write_jsonl(Path(args.out_dir) / "test.jsonl", test)
    log.info("wrote %d train and %d held-out items to %s", len(train), len(test), args.out_dir)


def cmd_toy_base(args) -> None:
    import torch

    from rldynamics.toy.config import ArchConfig, WarmupConfig
    from rldynamics.toy.model import greedy_accuracy, train_base
    from rldynamics.toy.task import read_jsonl

    if args.threads:
        torch.set_num_threads(args.threads)
    train = read_jsonl(args.train)
    arch = _dataclass_from(args, ArchConfig)
    warmup = _dataclass_from(args, WarmupConfig, "warmup-")
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
        acc = greedy_accuracy(model, tokenizer, read_jsonl(args.test))
        log.info("base model greedy held-out accuracy (quick check, not lm-eval): %.3f", acc)


def cmd_toy_rl(args) -> None:
    from rldynamics.rl import RLConfig
    from rldynamics.toy.rl import train_rl
    from rldynamics.toy.task import read_jsonl

    rl = _dataclass_from(args, RLConfig, "rl-")
    train_rl(args.base, read_jsonl(args.train), args.out, rl, args.seed, threads=args.threads)


def cmd_rl_task(args) -> None:
    from rldynamics.rl_task import addition_splits
    from rldynamics.toy.task import write_jsonl

    prompt = {"prompt": args.prompt} if args.prompt else {}
    train, test = addition_splits(args.operand_max, args.n_train, args.n_test, args.seed, **prompt)
    write_jsonl(Path(args.out_dir) / "train.jsonl", train)
    write_jsonl(Path(args.out_dir) / "test.jsonl", test)
    log.info("wrote %d train and %d held-out items to %s", len(train), len(test), args.out_dir)


def cmd_rl(args) -> None:
    from rldynamics.rl import RLConfig, graded_reward, train_grpo
    from rldynamics.toy.task import read_jsonl

    rl = _dataclass_from(args, RLConfig, "rl-")
    train_grpo(
        args.base,
        read_jsonl(args.train),
        args.out,
        rl,
        args.seed,
        graded_reward(args.answer_form),
        threads=args.threads,
        chat_template=args.chat_template,
        checkpoint_dtype=args.checkpoint_dtype,
    )


def cmd_collect(args) -> None:
    from rldynamics.collect import collect

    collect(args.source, args.steps, args.out_dir, args.manifest)
    log.info("collected %d checkpoints into %s", len(args.steps), args.out_dir)


def cmd_manifest(args) -> None:
    from rldynamics.collect import write_manifest
    from rldynamics.windows import STEP_FOLDER

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


def cmd_import_model(args) -> None:
    from rldynamics.collect import copy_model

    copy_model(args.source, args.out)
    log.info("model %s → %s", args.source, args.out)


def cmd_import_gguf(args) -> None:
    from rldynamics.gguf_import import import_gguf

    record = import_gguf(args.source, args.out)
    log.info("%s (%s) → %s", record["file"], record["conversion"], args.out)


def cmd_download(args) -> None:
    from rldynamics.sources import download

    download(args.repo, args.revision, args.out)
    log.info("%s@%s → %s", args.repo, args.revision, args.out)


def _labels(args) -> dict:
    return {"run": args.run, "step": args.step}


def cmd_decompose(args) -> None:
    from rldynamics.factors import decompose
    from rldynamics.settings import Guard

    if args.base_metrics and not args.metrics_out:
        raise InputError("--base-metrics is used with --metrics-out only")
    set_threads(args.threads)
    guard = Guard(
        block=args.block,
        max_steps=args.max_steps,
        sigma_tol=args.sigma_tol,
        vector_tol=args.vector_tol,
    )
    meta = decompose(
        args.base,
        args.checkpoint,
        args.rank,
        args.out,
        args.pattern,
        method=args.method,
        device=args.device,
        guard=guard,
        seed=args.seed,
        metrics_out=args.metrics_out,
        metric_settings=metric_settings(args) if args.metrics_out else None,
        labels=_labels(args),
        base_metrics=args.base_metrics,
    )
    log.info(
        "factors of %s at rank %s (%s on %s; %s) → %s",
        args.checkpoint,
        meta["rank"],
        meta["method"],
        meta["device"],
        ", ".join(f"{n} {m}" for m, n in meta["methods_used"].items()),
        args.out,
    )
    if args.metrics_out:
        log.info("parameter metrics → %s", args.metrics_out)


def cmd_build(args) -> None:
    from rldynamics.build import build_model

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


def cmd_parameters(args) -> None:
    from rldynamics.metrics_files import checkpoint_metrics

    frame = checkpoint_metrics(
        args.base,
        args.checkpoint,
        args.out,
        args.pattern,
        metric_settings(args),
        args.device,
        _labels(args),
        base_metrics=args.base_metrics,
    )
    log.info("%d metric rows of %s → %s", len(frame), args.checkpoint, args.out)


def cmd_parameter_table(args) -> None:
    import pandas as pd

    from rldynamics.io import write_csv
    from rldynamics.param_metrics import concat_tables

    frames = []
    for path in args.inputs:
        if not Path(path).exists():
            raise InputError(f"parameter-metric table not found: {path}")
        frames.append(pd.read_csv(path, dtype={"k": "Int64", "layer": "Int64"}))
    table = concat_tables(frames)
    write_csv(args.out, table)
    log.info("%d parameter-metric rows from %d checkpoints → %s", len(table), len(frames), args.out)


def cmd_parameter_figures(args) -> None:
    import pandas as pd

    from rldynamics import figures

    path = Path(args.table)
    if not path.exists():
        raise InputError(f"parameter-metric table not found: {path}")
    table = pd.read_csv(path, dtype={"k": "Int64", "layer": "Int64"})
    out = Path(args.out_dir)
    figures.sparsity_by_type(table, out / "update_sparsity", args.run)
    figures.principal_angles_by_layer(table, out / "principal_angles", args.run)
    figures.spectral_drift(table, out / "spectral_drift", args.run)
    log.info("parameter figures → %s", out)


def _read_spec(text: str) -> dict:
    """A scoring spec: inline JSON or the path of a JSON file."""
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        return json.loads(Path(text).read_text())
    except FileNotFoundError as err:
        raise InputError(f"scoring spec file not found: {text}") from err
    except json.JSONDecodeError as err:
        raise InputError(f"scoring spec is not valid JSON ({err})") from err


def cmd_evaluate(args) -> None:
    from rldynamics.evaluate import score_models

    if args.spec:
        spec = _read_spec(args.spec)
    elif args.model and args.task:
        # One model folder on one task, with the task's own sampling settings.
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
    else:
        raise InputError("evaluate needs --spec, or --model and --task")
    missing = [key for key in ("base", "benchmarks", "models") if key not in spec]
    if missing:
        raise InputError(f"scoring spec lacks {missing}")
    table = score_models(spec, args.out_csv, args.out_json, args.out_items, args.out_completions)
    log.info("%d result rows for %d models → %s", len(table), len(spec["models"]), args.out_csv)


def cmd_gather(args) -> None:
    import pandas as pd

    from rldynamics.io import write_csv
    from rldynamics.summary import concat_results

    frames = [pd.read_csv(p, dtype={"k": str, "variant": str}) for p in args.inputs]
    table = concat_results(frames)
    write_csv(args.out, table)
    log.info("%d result rows from %d evaluations → %s", len(table), len(frames), args.out)


def cmd_recovery(args) -> None:
    from rldynamics.io import write_csv
    from rldynamics.summary import recovery_table

    results, metrics = _read_results(args.results), _metrics(args.metric)
    table = recovery_table(results, metrics, args.final_step, args.lam)
    write_csv(args.out, table)
    for _, row in table[table["benchmark"] == "average"].iterrows():
        log.info(
            "rank-%s recovers %.1f %% of the RL gain (average)", row["k"], 100 * row["recovery"]
        )


def cmd_dynamics(args) -> None:
    from rldynamics.dynamics import load_series, save_series
    from rldynamics.io import write_csv
    from rldynamics.linearity import linearity_table
    from rldynamics.summary import checkpoint_accuracy

    series = load_series(args.factors, args.steps)
    save_series(args.out_series, series)
    accuracy = checkpoint_accuracy(_read_results(args.results), _metrics(args.metric))
    table, controls = linearity_table(
        series, accuracy, args.holdout_fraction, args.control_draws, args.seed
    )
    write_csv(args.out_table, table)
    write_csv(args.out_control, controls)
    for (form, alignment), group in table.groupby(["form", "alignment"]):
        log.info(
            "%s/%s over %d modules: R² median %.3f, held-out %.3f, shuffled control %.3f",
            form,
            alignment,
            len(group),
            group["r2"].median(),
            group["r2_heldout"].median(),
            group["control_mean"].median(),
        )


def _alpharl_windows(args) -> list[tuple[float | None, int | None, str | None, str]]:
    """(fraction, end step, label, out) of every window the command predicts."""
    if args.each_window:
        if args.fraction is not None or args.end_step is not None or args.out:
            raise InputError("alpharl --each-window replaces --fraction/--end-step and --out")
        return [_each_window(spec) for spec in args.each_window]
    if (args.fraction is None) == (args.end_step is None) or not args.out:
        raise InputError("alpharl needs --fraction or --end-step, and --out (or --each-window)")
    return [(args.fraction, args.end_step, args.window_label, args.out)]


def _each_window(spec: str):
    try:
        label, kind, value, out = spec.split(":", 3)
        if kind == "fraction":
            return float(value), None, label, out
        if kind == "end-step":
            return None, int(value), label, out
    except ValueError:
        pass
    raise InputError(
        f"--each-window wants LABEL:fraction:F:OUT or LABEL:end-step:N:OUT, got {spec!r}"
    )


def cmd_alpharl(args) -> None:
    from rldynamics.alpharl import predict
    from rldynamics.summary import checkpoint_accuracy
    from rldynamics.variants import signal_label

    windows = _alpharl_windows(args)
    accuracy = signal = None
    if args.results:
        metrics = _metrics(args.metric or [])
        if not metrics:
            raise InputError("alpharl --results needs --metric BENCHMARK=METRIC (the signal)")
        accuracy = checkpoint_accuracy(_read_results(args.results), metrics, args.results)
        signal = signal_label(metrics)
    # One process for every window of a variant: the fits take milliseconds, the start of
    # a process (torch's import) seconds.
    for fraction, end_step, label, out in windows:
        info = predict(
            args.series,
            accuracy,
            fraction,
            out,
            args.variant,
            args.target,
            args.target_step,
            end_step=end_step,
            window_label=label,
            signal=signal,
            base=args.base,
            checkpoints=args.checkpoints,
        )
        log.info(
            "AlphaRL %s, window %s %s: fit against %s; read checkpoints %s and accuracies of "
            "%s; predicted update %.2f× the window end's (median) → %s",
            args.variant,
            info["window"],
            info["window_steps"],
            info["signal"],
            info["checkpoints_read"],
            info["accuracies_read"],
            info["median_norm_ratio_to_window_end"],
            out,
        )


def cmd_alpharl_table(args) -> None:
    from rldynamics.io import load_factors, model_dtype, write_csv
    from rldynamics.summary import alpharl_table

    windows = {}
    for spec in args.window:
        try:
            label, fraction, step = spec.split(":")
            windows[label] = (float(fraction), int(step))
        except ValueError as err:
            raise InputError(f"--window wants LABEL:FRACTION:LAST_STEP, got {spec!r}") from err
    predictions = [load_factors(path)[1] for path in args.predictions or []]
    for path, meta in zip(args.predictions or [], predictions):
        missing = {"variant", "window", "signal", "dtype"} - set(meta)
        if missing:
            raise InputError(f"{path}: AlphaRL prediction metadata lacks {sorted(missing)}")
    base_dtype = model_dtype(args.base)
    table = alpharl_table(
        _read_results(args.results), _metrics(args.metric), windows, predictions, base_dtype
    )
    write_csv(args.out, table)
    for _, row in table.iterrows():
        log.info(
            "%s %s, window %s (to step %d; fit against %s; %s): %.3f; window end %.3f; "
            "final %.3f (retention %.1f %%)",
            row["method"],
            row["variant"],
            row["window"],
            row["window_last_step"],
            row["signal"],
            row["model_dtype"],
            row["prediction"],
            row["window_checkpoint"],
            row["full_run"],
            100 * row["retention"],
        )


def cmd_figures(args) -> None:
    import pandas as pd

    from rldynamics import figures
    from rldynamics.dynamics import load_series_file
    from rldynamics.summary import checkpoint_accuracy

    out = Path(args.out_dir)
    metrics = _metrics(args.metric)
    results = _read_results(args.results)
    figures.accuracy_vs_step(results, metrics, out / "accuracy_vs_step", args.run, args.lam)
    recovery = pd.read_csv(args.recovery, dtype={"k": str})
    figures.recovery_vs_k(recovery, out / "recovery_vs_k", args.run)
    figures.lambda_sweep(results, metrics, out / "lambda_sweep", args.run)
    trajectory = [args.linearity, args.control, args.series, args.alpharl]
    if any(trajectory) and not all(trajectory):
        raise InputError("figures: give --linearity, --control, --series and --alpharl together")
    if all(trajectory):
        series = load_series_file(args.series)
        accuracy = checkpoint_accuracy(results, metrics)
        linearity, control = pd.read_csv(args.linearity), pd.read_csv(args.control)
        figures.r2_histogram(
            linearity, control, out / "r2_histogram", args.run, args.form, args.alignment
        )
        figures.alpharl_windows(pd.read_csv(args.alpharl), out / "alpharl_windows", args.run)
        figures.trajectories(series, accuracy, out / "trajectories", args.run)
        figures.tsne(series, out / "tsne", args.run)
        # The released code's form: u1 alone, PCA to 2 dimensions (visualize_rank1_u_tsne).
        figures.tsne(series, out / "tsne_released", args.run, form="u1", pca_components=2)
    log.info("figures → %s", out)


def cmd_provenance(args) -> None:
    from rldynamics.provenance import write_provenance

    record = write_provenance(args.config, args.manifest, args.base, args.out)
    log.info("provenance (config sha256 %s) → %s", record["config_sha256"][:12], args.out)


def cmd_disk_plan(args) -> None:
    import yaml
    from snakemake.utils import validate

    from rldynamics import diskplan
    from rldynamics.io import write_text

    try:
        config = yaml.safe_load(Path(args.config).read_text())
        hf_config = json.loads(Path(args.model_config).read_text())
    except (OSError, yaml.YAMLError, json.JSONDecodeError) as err:
        raise InputError(f"disk-plan: cannot read its inputs ({err})") from err
    validate(config, args.schema, set_default=True)
    table = diskplan.markdown(diskplan.plan(hf_config, config))
    if args.readme:
        readme = Path(args.readme)
        write_text(readme, diskplan.replace_block(readme.read_text(), table, readme))
        log.info("disk plan of %s → %s", args.config, readme)
    else:
        sys.stdout.write(table)


def cmd_config_docs(args) -> None:
    from rldynamics.configdoc import render
    from rldynamics.io import write_text

    write_text(args.out, render(args.schema))
    log.info("configuration reference → %s", args.out)


# --- parser ------------------------------------------------------------------------------


def _add_metric_args(p) -> None:
    add_metric_settings_args(p)
    add_base_metrics_arg(p)
    p.add_argument("--run", help="run name written into the metrics table")
    p.add_argument("--step", type=int, help="checkpoint step written into the metrics table")


def build_parser() -> argparse.ArgumentParser:
    from rldynamics.rl import RLConfig
    from rldynamics.selection import DEFAULT_PARAM_PATTERN
    from rldynamics.settings import METHODS, Guard
    from rldynamics.toy.config import ArchConfig, WarmupConfig
    from rldynamics.variants import VARIANTS

    parser = argparse.ArgumentParser(prog="rldynamics", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"rldynamics {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("toy-task", help="write the toy task's train and held-out JSONL")
    p.add_argument("--digits", type=int, default=2)
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_toy_task)

    p = sub.add_parser("toy-base", help="build tokenizer and tiny LM, warm it up, save HF folder")
    p.add_argument("--train", required=True)
    p.add_argument("--test", help="held-out JSONL for a quick greedy accuracy in the log")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    _add_dataclass_args(p, ArchConfig)
    _add_dataclass_args(p, WarmupConfig, "warmup-")
    p.set_defaults(func=cmd_toy_base)

    p = sub.add_parser("toy-rl", help="GRPO (TRL) on the toy base model, saving checkpoints")
    p.add_argument("--base", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    _add_dataclass_args(p, RLConfig, "rl-")
    p.set_defaults(func=cmd_toy_rl)

    p = sub.add_parser("rl-task", help="write the additions of a real base's RL run (JSONL)")
    p.add_argument("--operand-max", type=int, default=19)
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--prompt", default=None, help="question with {a} and {b}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_rl_task)

    p = sub.add_parser(
        "rl", help="GRPO (TRL) from any HF base on a graded task, saving checkpoints"
    )
    p.add_argument("--base", required=True)
    p.add_argument("--train", required=True, help="JSONL of {question, answer}")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--answer-form", default="boxed", help="rldynamics.grading form of the reward")
    p.add_argument("--chat-template", action="store_true", help="prompt as a chat user turn")
    p.add_argument("--checkpoint-dtype", default="bfloat16", help="dtype of saved checkpoints")
    _add_dataclass_args(p, RLConfig, "rl-")
    p.set_defaults(func=cmd_rl)

    p = sub.add_parser("collect", help="lay out checkpoint-<N> folders as step-<N> + manifest")
    p.add_argument("--source", required=True)
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--manifest", required=True)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("manifest", help="checksum manifest of collected step-<N> folders")
    p.add_argument("--out", required=True)
    p.add_argument("--sources", nargs="+", help="where each folder was taken from (same order)")
    p.add_argument("folders", nargs="+")
    p.set_defaults(func=cmd_manifest)

    p = sub.add_parser("import-model", help="take an HF model folder's weights and side files")
    p.add_argument("--source", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_import_model)

    p = sub.add_parser("import-gguf", help="convert a GGUF file into an HF model folder (bf16)")
    p.add_argument("--source", required=True, help="a .gguf path or package:<module>/<file>")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_import_gguf)

    p = sub.add_parser("download", help="fetch an HF Hub model (safetensors only) as a folder")
    p.add_argument("--repo", required=True)
    p.add_argument("--revision", default="main")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_download)

    guard = Guard()
    p = sub.add_parser("decompose", help="top-k singular factors of ΔW per decomposed matrix")
    p.add_argument("--base", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--rank", required=True, help="positive integer or 'full'")
    p.add_argument("--out", required=True)
    p.add_argument("--pattern", default=DEFAULT_PARAM_PATTERN, help="regex of parameter names")
    p.add_argument(
        "--method",
        choices=list(METHODS),
        default="randomized",
        help="randomized block Krylov with an accuracy guard (default), or the exact SVD",
    )
    p.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random start blocks")
    p.add_argument("--block", type=int, default=guard.block, help="Krylov block size")
    p.add_argument(
        "--max-steps", type=int, default=guard.max_steps, help="Krylov steps before exact SVD"
    )
    p.add_argument(
        "--sigma-tol",
        type=float,
        default=guard.sigma_tol,
        help="estimated relative error allowed on σ1..σk",
    )
    p.add_argument(
        "--vector-tol",
        type=float,
        default=guard.vector_tol,
        help="estimated sin of the angle allowed on u1, v1",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument(
        "--metrics-out", help="also write this checkpoint's Path Not Taken metrics (CSV)"
    )
    _add_metric_args(p)
    p.set_defaults(func=cmd_decompose)

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

    p = sub.add_parser("parameters", help="Path Not Taken metrics of one checkpoint (CSV)")
    p.add_argument("--base", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pattern", default=DEFAULT_PARAM_PATTERN, help="regex of parameter names")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    _add_metric_args(p)
    p.set_defaults(func=cmd_parameters)

    add_base_metrics_parser(sub)
    add_claims_parsers(sub)
    add_forecast_parsers(sub)

    p = sub.add_parser("parameter-table", help="gather per-checkpoint metric CSVs into one")
    p.add_argument("--out", required=True)
    p.add_argument("inputs", nargs="+")
    p.set_defaults(func=cmd_parameter_table)

    p = sub.add_parser("parameter-figures", help="draw the parameter-metric figures")
    p.add_argument("--table", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_parameter_figures)

    p = sub.add_parser("evaluate", help="score models with lm-eval (several per process)")
    p.add_argument("--spec", help="scoring spec: JSON text or a JSON file (see evaluate.py)")
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

    p = sub.add_parser("gather", help="concatenate per-evaluation tidy CSVs into one table")
    p.add_argument("--out", required=True)
    p.add_argument("inputs", nargs="+")
    p.set_defaults(func=cmd_gather)

    metric_help = "BENCHMARK=METRIC, the primary metric of each benchmark (repeat)"
    p = sub.add_parser("recovery", help="rank-k recovery of the RL gain")
    p.add_argument("--results", required=True)
    p.add_argument("--metric", action="append", required=True, help=metric_help)
    p.add_argument("--final-step", type=int, required=True)
    p.add_argument("--lam", type=float, default=1.0, help="λ of the rank-k models")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_recovery)

    p = sub.add_parser("dynamics", help="rank-1 series; linearity with held-out R² and control")
    p.add_argument("--factors", nargs="+", required=True)
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--metric", action="append", required=True, help=metric_help)
    p.add_argument("--holdout-fraction", type=float, default=0.5)
    p.add_argument("--control-draws", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-series", required=True)
    p.add_argument("--out-table", required=True)
    p.add_argument("--out-control", required=True)
    p.set_defaults(func=cmd_dynamics)

    p = sub.add_parser("alpharl", help="predict the update from an early window (AlphaRL, RELEX)")
    p.add_argument("--series", required=True, help="rank-1 series file (rldynamics dynamics)")
    p.add_argument("--results", help="checkpoint accuracies (not read by 'prospective')")
    p.add_argument("--metric", action="append", help=metric_help)
    window = p.add_mutually_exclusive_group()
    window.add_argument("--fraction", type=float, help="window: this share of the run's steps")
    window.add_argument("--end-step", type=int, help="window: every checkpoint up to this step")
    p.add_argument("--window-label", help="the window's name in tables (default its percentage)")
    p.add_argument(
        "--each-window",
        action="append",
        metavar="LABEL:fraction:F:OUT",
        help="predict this window too, into OUT (or LABEL:end-step:N:OUT); repeat for several "
        "windows in one process, instead of --fraction/--end-step, --window-label and --out",
    )
    p.add_argument("--variant", choices=list(VARIANTS), default="paper")
    p.add_argument("--target", type=float, default=1.0, help="y* (paper, official-code)")
    p.add_argument("--target-step", type=int, help="T (prospective, relex; default the last step)")
    p.add_argument("--base", help="base model folder (relex)")
    p.add_argument(
        "--checkpoints",
        help="checkpoint folder, any layout the pipeline reads, or a glob (relex)",
    )
    p.add_argument("--out", help="the prediction file (one window)")
    p.set_defaults(func=cmd_alpharl)

    p = sub.add_parser("alpharl-table", help="AlphaRL and baseline against window and full run")
    p.add_argument("--results", required=True)
    p.add_argument("--metric", action="append", required=True, help=metric_help)
    p.add_argument(
        "--window", action="append", required=True, help="LABEL:FRACTION:LAST_STEP (repeat)"
    )
    p.add_argument("--predictions", nargs="*", help="the AlphaRL prediction files (metadata)")
    p.add_argument("--base", required=True, help="base model folder (its dtype)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_alpharl_table)

    p = sub.add_parser("figures", help="draw the figures from the tables")
    p.add_argument("--results", required=True)
    p.add_argument("--recovery", required=True)
    trajectory_help = "trajectory tables (all four, or none for a single-checkpoint run)"
    p.add_argument("--linearity", help=trajectory_help)
    p.add_argument("--control", help=trajectory_help)
    p.add_argument("--alpharl", help=trajectory_help)
    p.add_argument("--series", help=trajectory_help)
    p.add_argument("--metric", action="append", required=True, help=metric_help)
    p.add_argument("--lam", type=float, default=1.0, help="λ of the rank-1 overlay")
    p.add_argument(
        "--form",
        default="fro-u1",
        help="trajectory form of the R² histogram (fro-u1, sigma1-u1, u1)",
    )
    p.add_argument("--alignment", default="backward", help="sign alignment of the R² histogram")
    p.add_argument("--run", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("provenance", help="record versions, config hash and input checksums")
    p.add_argument("--config", required=True, help="the run's validated config as JSON")
    p.add_argument("--manifest", required=True)
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_provenance)

    p = sub.add_parser("disk-plan", help="disk space a run keeps and needs, from model shapes")
    p.add_argument("--config", required=True, help="the run's config YAML")
    p.add_argument("--model-config", required=True, help="the base model's HF config.json")
    p.add_argument("--schema", default="workflow/schemas/config.schema.yaml")
    p.add_argument("--readme", help="fill this file's disk-plan block instead of printing")
    p.set_defaults(func=cmd_disk_plan)
    add_plan_parser(sub)
    add_profile_parser(sub)

    p = sub.add_parser("config-docs", help="write the configuration reference from the schema")
    p.add_argument("--schema", default="workflow/schemas/config.schema.yaml")
    p.add_argument("--out", default="config/README.md")
    p.set_defaults(func=cmd_config_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    args = build_parser().parse_args(argv)
    started = process_age()
    work_start = time.perf_counter()
    try:
        with ImportClock() as imports:
            args.func(args)
    except InputError as err:
        print(f"rldynamics {args.command}: error: {err}", file=sys.stderr)
        return 2
    if started is not None:  # read back by `rldynamics profile`: imports count as start-up
        worked = time.perf_counter() - work_start - imports.seconds
        log.info(startup_line(args.command, started + imports.seconds, worked))
    return 0
