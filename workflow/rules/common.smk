# Helpers shared by the stage files: config validation, the run's paths, the checkpoint
# series, the list of evaluated models and the labels of each. Runs when the DAG is built
# (also inside every cluster job), so it does only cheap work: no tensors, no heavy imports.

import re
import shlex
from pathlib import Path

from snakemake.utils import validate

from rldynamics.errors import InputError
from rldynamics.windows import window_steps

validate(config, schema="../schemas/config.schema.yaml", set_default=True)

RUN = config["run"]
RESULTS = f"results/{RUN}"
TOY = config["toy"]
ENV = "../../envs/rldynamics.yaml"
# Snakemake sets OMP_NUM_THREADS and the BLAS thread variables of every job to its
# `threads:`, so parallel jobs do not oversubscribe the cores.


def _fail(message):
    raise InputError(f"config: {message}")


# --- sources ---------------------------------------------------------------------------

if config["base"]["source"] == "local" and not config["base"]["path"]:
    _fail("base.source is 'local' but base.path is not set")
if config["checkpoints"]["source"] == "local" and not config["checkpoints"]["path"]:
    _fail("checkpoints.source is 'local' but checkpoints.path is not set")


def checkpoint_steps():
    """The RL steps of the series, known before anything runs."""
    if config["checkpoints"]["source"] == "toy":
        rl = TOY["rl"]
        steps = list(range(rl["save_every"], rl["steps"] + 1, rl["save_every"]))
        return steps if steps[-1:] == [rl["steps"]] else steps + [rl["steps"]]
    wanted = config["checkpoints"]["steps"]
    if wanted:
        if sorted(set(wanted)) != list(wanted):
            _fail(f"checkpoints.steps must be strictly increasing, got {wanted}")
        return list(wanted)
    from rldynamics.collect import find_checkpoints

    return sorted(find_checkpoints(config["checkpoints"]["path"]))


def checkpoint_source():
    """The folder that collecting reads: the toy RL output or the user's trainer output."""
    if config["checkpoints"]["source"] == "toy":
        return f"{RESULTS}/rl"
    return config["checkpoints"]["path"]


STEPS = checkpoint_steps()
FINAL_STEP = STEPS[-1]
STRIDE = config["evaluate"]["checkpoint_stride"]
EVAL_STEPS = sorted(set(STEPS[::STRIDE]) | {FINAL_STEP})
if len(EVAL_STEPS) < 2:
    _fail(f"at least two evaluated checkpoints are needed, got steps {EVAL_STEPS}")

# --- ranks ------------------------------------------------------------------------------

FACTOR_RANK = config["decompose"]["rank"]
RANKS = [str(k) for k in config["rank_models"]["ranks"]]
if len(set(RANKS)) != len(RANKS):
    _fail(f"rank_models.ranks has duplicates: {RANKS}")


def factor_rank_for(k):
    """Rank of the factor file a rank-k model is built from: the series' rank when it suffices."""
    if k != "full" and int(k) <= FACTOR_RANK:
        return str(FACTOR_RANK)
    return k


def factors_path(step, rank=None):
    return f"{RESULTS}/factors/k{rank or FACTOR_RANK}/step-{step}.safetensors"


# --- decomposition engine and parameter metrics ---------------------------------------

DECOMPOSE = config["decompose"]
PARAMETERS = config["parameters"]
DECOMPOSE_OUTPUT = {"factors": factors_path("{step}")}
if PARAMETERS["enabled"]:
    DECOMPOSE_OUTPUT["metrics"] = f"{RESULTS}/parameters/step-{{step}}.csv"


def metrics_args(wildcards, output):
    """The decompose options that add this checkpoint's parameter metrics (or none)."""
    if not PARAMETERS["enabled"]:
        return ""
    ranks = " ".join(str(k) for k in PARAMETERS["angle_ranks"])
    return (
        f"--metrics-out {output.metrics} --angle-ranks {ranks}"
        f" --mask-fraction {PARAMETERS['mask_fraction']}"
        f" --mask-rank {PARAMETERS['mask_rank']}"
        f" --run {shlex.quote(RUN)} --step {wildcards.step}"
    )


ENGINE_ARGS = (
    f"--pattern {shlex.quote(DECOMPOSE['pattern'])} --method {DECOMPOSE['method']}"
    f" --device {shlex.quote(DECOMPOSE['device'])} --seed {config['seed']}"
)

REST = config["rank_models"]["rest"]


# --- benchmarks -------------------------------------------------------------------------

BENCHMARKS = config["benchmarks"]
REPO_DIR = Path(workflow.basedir)


def benchmark_task(name):
    """The task YAML: relative paths are looked up in the working directory, then the repository."""
    task = Path(BENCHMARKS[name]["task"])
    if task.is_absolute() or task.exists():
        return str(task)
    return str(REPO_DIR / task)


def benchmark_data(name):
    data = BENCHMARKS[name].get("data")
    return data.replace("{results}", RESULTS) if data else None


def metric_arg(name):
    """The --metric option naming a benchmark's primary metric."""
    pair = f"{name}={BENCHMARKS[name]['metric']}"
    return f"--metric {shlex.quote(pair)}"


METRIC_ARGS = " ".join(metric_arg(name) for name in BENCHMARKS)

# --- AlphaRL windows --------------------------------------------------------------------

VARIANT = config["alpharl"]["variant"]
WINDOWS = {}  # percent label → (fraction, last window step)
for fraction in config["alpharl"]["windows"]:
    label = f"{100 * fraction:g}"
    WINDOWS[label] = (fraction, window_steps(EVAL_STEPS, fraction)[-1])

# --- evaluated models -------------------------------------------------------------------
# A model key names one model: "base", "checkpoint/step-N", "rank-K/step-N",
# "alpharl-VARIANT/window-P". Each evaluation writes results/<run>/eval/<key>/<benchmark>.csv.

CHECKPOINT_MODELS = ["base", *(f"checkpoint/step-{s}" for s in EVAL_STEPS)]
RANK_MODELS = [f"rank-{k}/step-{FINAL_STEP}" for k in RANKS]
if config["rank_models"]["rank1_every_checkpoint"]:
    RANK_MODELS += [
        f"rank-1/step-{s}" for s in EVAL_STEPS if s != FINAL_STEP or "1" not in RANKS
    ]
ALPHARL_MODELS = [f"alpharl-{VARIANT}/window-{p}" for p in WINDOWS]


def eval_csvs(models):
    return [f"{RESULTS}/eval/{m}/{b}.csv" for m in models for b in BENCHMARKS]


def model_dir(wildcards):
    """Folder of the model behind a model key."""
    key = wildcards.model
    if key == "base":
        return f"{RESULTS}/models/base"
    if key.startswith("checkpoint/"):
        return f"{RESULTS}/checkpoints/{key.split('/', 1)[1]}"
    return f"{RESULTS}/models/{key}"


def model_labels(key):
    """(kind, step, k, variant) of a model key, as the results table records them."""
    if key == "base":
        return "base", 0, "", ""
    kind, name = key.split("/", 1)
    if kind == "checkpoint":
        return "checkpoint", int(name.removeprefix("step-")), "", ""
    if kind.startswith("rank-"):
        return (
            "rank-k",
            int(name.removeprefix("step-")),
            kind.removeprefix("rank-"),
            config["rank_models"]["scale"],
        )
    variant = kind.removeprefix("alpharl-")
    return "alpharl", WINDOWS[name.removeprefix("window-")][1], "1", variant


def eval_label_args(wildcards):
    kind, step, k, variant = model_labels(wildcards.model)
    args = f"--run {shlex.quote(RUN)} --kind {kind} --step {step}"
    if k:
        args += f" --k {k}"
    if variant:
        args += f" --variant {shlex.quote(variant)}"
    return args


MODEL_KEY = (
    r"base|checkpoint/step-\d+|rank-(\d+|full)/step-\d+|alpharl-[a-z-]+/window-[0-9.]+"
)
