"""``rldynamics forecast --checkpoints DIR``: the forecast of a run still training, straight
from its checkpoint folder.

Nothing here computes a forecast. The inputs are checked (cheaply: folder listings and
safetensors headers), a config for the repository's Snakefile is written into a work folder
(``checkpoints.source local`` and ``base.source local``, one AlphaRL window ending at the last
checkpoint, ``alpharl.target_step`` T) and snakemake makes ``results/<run>/forecast.md`` there,
through the same rules as any run (collect, decompose, score, AlphaRL, the ``forecast`` rule).
The report is then printed. Rerun with more checkpoints in the folder and the same work
folder: each checkpoint is taken, decomposed and scored in jobs of its own, so the steps done
before are reused and only the new step, the window's AlphaRL model and the tables are made.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from rldynamics import REPOSITORY
from rldynamics.core.errors import InputError

log = logging.getLogger("rldynamics")

# The Snakefile of the checkout the package runs from.
SNAKEFILE = REPOSITORY / "Snakefile"


def snakemake_command(*args) -> list[str]:
    """The snakemake command on this repository's Snakefile (also used by ``seeds``)."""
    exe = shutil.which("snakemake")
    head = [exe] if exe else [sys.executable, "-m", "snakemake"]
    return [*head, "-s", str(SNAKEFILE), *map(str, args)]


def parse_benchmarks(specs: list[str], metrics: dict[str, str]) -> dict[str, dict]:
    """``NAME=TASK_YAML[:DATA]`` entries → the config's ``benchmarks`` (paths made absolute,
    each checked to exist)."""
    if not specs:
        raise InputError("forecast --checkpoints: give at least one --benchmark NAME=TASK_YAML")
    out = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        task, _, data = rest.partition(":")
        if not sep or not name or not task:
            raise InputError(f"--benchmark wants NAME=TASK_YAML[:DATA], got {spec!r}")
        if name in out:
            raise InputError(f"--benchmark {name} is given twice")
        entry = {"task": _existing(task, f"benchmark {name}: task YAML")}
        if data:
            entry["data"] = _existing(data, f"benchmark {name}: data file")
        entry["metric"] = metrics.get(name, "acc")
        out[name] = entry
    unknown = sorted(set(metrics) - set(out))
    if unknown:
        raise InputError(f"--metric names benchmarks not given with --benchmark: {unknown}")
    return out


def _existing(path: str, what: str) -> str:
    if not Path(path).exists():
        raise InputError(f"{what} not found: {path}")
    return str(Path(path).resolve())


def tensor_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """{tensor name: shape} of an HF model folder, read from the safetensors headers only."""
    from safetensors import safe_open

    from rldynamics.core.io import ModelWeights

    weights = ModelWeights(folder)
    shapes = {}
    for path in weights.weight_files():
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                shapes[name] = tuple(handle.get_slice(name).get_shape())
    return shapes


def check_base(base: Path, checkpoints: dict[int, Path]) -> None:
    """The base must hold every checkpoint's tensors, with the same shapes (the updates are
    checkpoint − base); the first mismatch is named."""
    if not base.is_dir():
        raise InputError(f"base model folder not found: {base}")
    want = tensor_shapes(base)
    for step, folder in sorted(checkpoints.items()):
        have = tensor_shapes(folder)
        for name in sorted(set(have) | set(want)):
            if name not in want:
                raise InputError(
                    f"the base {base} does not match checkpoint step {step}: tensor {name!r} "
                    f"is in the checkpoint ({folder}) but not in the base"
                )
            if name not in have:
                raise InputError(
                    f"the base {base} does not match checkpoint step {step}: tensor {name!r} "
                    f"is in the base but not in the checkpoint ({folder})"
                )
            if have[name] != want[name]:
                raise InputError(
                    f"the base {base} does not match checkpoint step {step}: tensor {name!r} "
                    f"has shape {list(want[name])} in the base, {list(have[name])} in {folder}"
                )


def check_series(source: str, target_step: int) -> dict[int, Path]:
    """The checkpoints so far ({step: folder}): at least two, all before ``target_step``."""
    from rldynamics.checkpoints.series import find_checkpoints

    if "*" not in source and not Path(source).is_dir():
        raise InputError(f"checkpoint folder not found: {source}")
    found = find_checkpoints(source)
    steps = sorted(found)
    if len(steps) < 2:
        raise InputError(
            f"{source}: the forecast needs at least two checkpoints (AlphaRL's line through the "
            f"trajectory), found {len(steps)} (steps {steps})"
        )
    if target_step <= steps[-1]:
        raise InputError(
            f"target step {target_step} is not after the last checkpoint in {source} "
            f"(step {steps[-1]}): nothing is left to forecast"
        )
    return found


def folder_config(args, benchmarks: dict, source: str) -> dict:
    """The run config the Snakefile reads: the user's series and base, the benchmarks, one
    AlphaRL window ending at the last checkpoint extrapolated to T, and only the models the
    forecast reads (no λ sweep, no rank-1 of every checkpoint, no parameter metrics)."""
    return {
        "run": args.run,
        "base": {"source": "local", "path": str(Path(args.base).resolve())},
        "checkpoints": {"source": "local", "path": source},
        "benchmarks": benchmarks,
        "rank_models": {"ranks": [1], "lam_sweep": [], "rank1_every_checkpoint": False},
        "parameters": {"enabled": False},
        # one model (and one checkpoint's decomposition) a job: a checkpoint added later
        # leaves the jobs of the others as they were
        "decompose": {"checkpoints_per_job": 1},
        "evaluate": {"models_per_job": 1},
        "alpharl": {
            "variants": [args.variant],
            "windows": [1.0],
            "target_step": int(args.target_step),
            "baseline": False,
        },
        "forecast": {"tolerance": float(args.tolerance), "variant": args.variant},
    }


def _source(path: str) -> str:
    return path if "*" in path else str(Path(path).resolve())


def run_folder_forecast(args) -> str:
    """Check the inputs, write the config, make forecast.md with snakemake; return it."""
    from rldynamics.core.settings import parse_metrics

    if args.target_step is None:
        raise InputError("forecast --checkpoints: give --target-step T, the step to forecast")
    if not args.base:
        raise InputError("forecast --checkpoints: give --base, the base model's folder")
    source = _source(args.checkpoints)
    found = check_series(source, args.target_step)
    check_base(Path(args.base), found)
    benchmarks = parse_benchmarks(args.benchmark or [], parse_metrics(args.metric or []))
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(folder_config(args, benchmarks, source), sort_keys=False))
    target = f"results/{args.run}/forecast.md"
    log.info(
        "forecast of steps %s to step %d: snakemake in %s",
        " ".join(map(str, sorted(found))),
        args.target_step,
        workdir,
    )
    cmd = snakemake_command("--directory", workdir, "--configfile", configfile)
    cmd += ["--cores", str(args.cores), target]
    # snakemake's own output goes to stderr (file descriptor 2): stdout is the report
    proc = subprocess.run(cmd, stdout=2, env=dict(os.environ))
    if proc.returncode:
        raise InputError(
            f"the forecast's pipeline failed (snakemake exit {proc.returncode}); its config is "
            f"{configfile}, its logs under {workdir / 'results' / args.run / 'logs'}"
        )
    return (workdir / target).read_text()
