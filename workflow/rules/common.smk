# Helpers shared by the stage files: config validation, the run's paths, the checkpoint
# series, the list of evaluated models and the labels of each. Runs when the DAG is built
# (also inside every cluster job), so it does only cheap work: no tensors, no heavy imports.

import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from rldynamics.core.errors import InputError
from rldynamics.core.variants import (
    SIGNAL_VARIANTS,
    VARIANT_RANKS,
    VARIANTS as VARIANT_SPECS,
    WEIGHT_VARIANTS,
    check_form,
)
from rldynamics.evaluate.runmodels import check_budgets, chunks, run_models, toy_steps
from rldynamics.checkpoints.series import find_checkpoints

# Old trajectory-form names are refused with the new name, not with the schema's bare enum.
if isinstance(config.get("dynamics"), dict) and "form" in config["dynamics"]:
    check_form(config["dynamics"]["form"], "config: dynamics.form")
validate(config, schema="../schemas/config.schema.yaml", set_default=True)

RUN = config["run"]
RESULTS = f"results/{RUN}"
TOY = config["toy"]
# checkpoints.source rl: GRPO run here from the configured base on the rl task.
RL = config["rl"]
RL_WORLD = config["checkpoints"]["source"] == "rl"
ENV = "../../envs/rldynamics.yaml"
# Jobs in that environment find the rldynamics command in workflow/bin (it runs src/ of this
# checkout); an installed rldynamics, earlier on PATH, takes precedence. Set here, the PATH
# reaches every job: local ones inherit it, cluster jobs re-read this file.
os.environ["PATH"] = os.pathsep.join(
    [os.environ.get("PATH", ""), str(Path(workflow.basedir) / "workflow" / "bin")]
)
# Snakemake sets OMP_NUM_THREADS and the BLAS thread variables of every job to its
# `threads:`, so parallel jobs do not oversubscribe the cores.


def _fail(message):
    raise InputError(f"config: {message}")


# --- sources ---------------------------------------------------------------------------

if config["base"]["source"] == "local" and not config["base"]["path"]:
    _fail("base.source is 'local' but base.path is not set")
if config["base"]["source"] == "gguf" and not config["base"]["path"]:
    _fail(
        "base.source is 'gguf' but base.path is not set (a .gguf file or "
        "package:<module>/<file>)"
    )
if RL_WORLD and config["base"]["source"] == "toy":
    _fail(
        "checkpoints.source is 'rl' (a real base's RL run): base.source toy uses 'toy'"
    )
if RL_WORLD and RL["steps"] % RL["save_every"]:
    _fail(
        f"rl.steps ({RL['steps']}) must be a multiple of rl.save_every ({RL['save_every']}): "
        "the trainer saves every save_every steps only"
    )
if config["checkpoints"]["source"] == "local" and not config["checkpoints"]["path"]:
    _fail("checkpoints.source is 'local' but checkpoints.path is not set")
if config["base"]["source"] == "hf" and not config["base"]["repo"]:
    _fail("base.source is 'hf' but base.repo is not set")
if config["checkpoints"]["source"] == "hf":
    if not config["checkpoints"]["repo"]:
        _fail("checkpoints.source is 'hf' but checkpoints.repo is not set")
    if not config["checkpoints"]["steps"]:
        _fail("checkpoints.source is 'hf': list checkpoints.steps")
    if (
        "{step}" not in config["checkpoints"]["repo"]
        and len(config["checkpoints"]["steps"]) > 1
    ):
        _fail(
            "checkpoints.source is 'hf' with several steps: checkpoints.repo must contain "
            "'{step}' (one repository per step)"
        )


# A local series is listed once (a folder listing or a glob: cheap, but read by every job).
LOCAL_CHECKPOINTS = (
    find_checkpoints(config["checkpoints"]["path"])
    if config["checkpoints"]["source"] == "local"
    else {}
)


def checkpoint_steps():
    """The RL steps of the series, known before anything runs."""
    if config["checkpoints"]["source"] == "toy":
        return toy_steps(TOY["rl"])
    if RL_WORLD:
        return toy_steps(RL)
    wanted = config["checkpoints"]["steps"]
    if wanted:
        if sorted(set(wanted)) != list(wanted):
            _fail(f"checkpoints.steps must be strictly increasing, got {wanted}")
        return list(wanted)
    return sorted(LOCAL_CHECKPOINTS)


def local_checkpoint_input(wildcards):
    """The user's folder of one step of a local series, links resolved: a step rewritten on
    disk is taken again, the same folder reached through another link is not."""
    return str(Path(LOCAL_CHECKPOINTS[int(wildcards.step)]).resolve())


def manifest_sources(wildcards, input):
    """The manifest's source column: each step's folder in the user's series (local), or the
    downloaded folder itself (hf)."""
    if config["checkpoints"]["source"] != "local":
        return ""
    folders = (shlex.quote(str(LOCAL_CHECKPOINTS[s])) for s in STEPS)
    return "--sources " + " ".join(folders)


STEPS = checkpoint_steps()
if config["checkpoints"]["source"] == "local":
    _missing = [s for s in STEPS if s not in LOCAL_CHECKPOINTS]
    if _missing:
        _fail(
            f"checkpoints.path {config['checkpoints']['path']}: no checkpoint for steps "
            f"{_missing}; found {sorted(LOCAL_CHECKPOINTS)[:10]}"
        )
MANIFEST = f"{RESULTS}/checkpoints/manifest.csv"
FINAL_STEP = STEPS[-1]
try:
    MODELS = run_models(config, STEPS)
except InputError as err:
    _fail(err)
EVAL_STEPS = MODELS.eval_steps
# The trajectory analyses (rank-1 linearity, AlphaRL, the baseline) need a series; a run
# published as its final model only (one checkpoint) gets the rest: rank-k recovery, the
# λ sweep and the parameter metrics.
TRAJECTORY = MODELS.trajectory
if not TRAJECTORY:
    print(
        f"rldynamics: one evaluated checkpoint (step {FINAL_STEP}): rank-1 linearity, "
        "AlphaRL and the baseline need two or more and are left out of this run",
        file=sys.stderr,
    )

# --- ranks ------------------------------------------------------------------------------

FACTOR_RANK = config["decompose"]["rank"]
# In file names a percentage rank is written "10pct" ("%" is awkward in paths).
RANKS = [str(k).replace("%", "pct") for k in config["rank_models"]["ranks"]]
if len(set(RANKS)) != len(RANKS):
    _fail(f"rank_models.ranks has duplicates: {RANKS}")
LAM_SWEEP = [float(x) for x in config["rank_models"]["lam_sweep"]]


def factor_rank_for(k):
    """Rank of the factor file a rank-k model is built from: the series' rank when it suffices.

    Percentages depend on each matrix's shape: they read the full factors.
    """
    if k.isdigit() and int(k) <= FACTOR_RANK:
        return str(FACTOR_RANK)
    return k if k.isdigit() else "full"


def factors_path(step, rank=None):
    return f"{RESULTS}/factors/k{rank or FACTOR_RANK}/step-{step}.safetensors"


# --- decomposition engine and parameter metrics ---------------------------------------

DECOMPOSE = config["decompose"]
PARAMETERS = config["parameters"]
# W0's share of the parameter metrics: computed once per run (rule base_metrics), read by
# every checkpoint's decompose job.
BASE_METRICS = f"{RESULTS}/parameters/base-metrics.safetensors"
METRICS_ENABLED = PARAMETERS["enabled"]
METRIC_SETTINGS_ARGS = (
    f"--angle-ranks {' '.join(str(k) for k in PARAMETERS['angle_ranks'])}"
    f" --mask-fraction {PARAMETERS['mask_fraction']}"
    f" --mask-rank {PARAMETERS['mask_rank']}"
)


def metrics_path(step):
    return f"{RESULTS}/parameters/step-{step}.csv"


# Checkpoints are decomposed decompose.checkpoints_per_job to a job ("batch-<i>", in step
# order): one process pays the start of Python and torch once for all of them. A batch job
# writes into its own temporary folder; rule step_factors then gives each step its files at
# the paths every consumer reads (Snakemake names one job's outputs, not a wildcard's
# values, so a job cannot itself be the rule of many steps' files).
PER_JOB = DECOMPOSE["checkpoints_per_job"]
DECOMPOSE_BATCHES = {
    str(i): STEPS[start : start + PER_JOB]
    for i, start in enumerate(range(0, len(STEPS), PER_JOB))
}
BATCH_OF_STEP = {step: i for i, steps in DECOMPOSE_BATCHES.items() for step in steps}


def decompose_batch_folder(batch):
    return f"{RESULTS}/factors/k{FACTOR_RANK}/batch-{batch}"


def step_batch_folder(wildcards):
    """The folder of the batch that decomposes this step."""
    step = int(wildcards.step)
    if step not in BATCH_OF_STEP:
        raise ValueError(f"step {step} is not a checkpoint of this run (steps {STEPS})")
    return decompose_batch_folder(BATCH_OF_STEP[step])


def decompose_batch_input(wildcards):
    """The base, the batch's checkpoint folders and (with the metrics) W0's share."""
    steps = DECOMPOSE_BATCHES[wildcards.batch]
    inputs = {
        "base": f"{RESULTS}/models/base",
        "checkpoints": [checkpoint_folder(s) for s in steps],
    }
    if METRICS_ENABLED:
        inputs["base_metrics"] = BASE_METRICS
    return inputs


def decompose_batch_args(wildcards, input, output):
    """The batch's steps and, with the metrics on, the options that add them."""
    steps = " ".join(str(s) for s in DECOMPOSE_BATCHES[wildcards.batch])
    if not METRICS_ENABLED:
        return f"--steps {steps}"
    return (
        f"--steps {steps} --metrics-out-dir {output} --base-metrics {input.base_metrics}"
        f" {METRIC_SETTINGS_ARGS} --run {shlex.quote(RUN)}"
    )


STEP_OUTPUT = {"factors": factors_path("{step}")}
if METRICS_ENABLED:
    STEP_OUTPUT["metrics"] = metrics_path("{step}")


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

# --- AlphaRL windows and accuracy signals -------------------------------------------------

VARIANTS = config["alpharl"]["variants"] if TRAJECTORY else []
WINDOWS = (
    MODELS.windows
)  # label → (the window as configured, the window's checkpoint steps)


def window_fraction(label):
    """A window's share of the run: its fraction, or end step / last step."""
    window, _ = WINDOWS[label]
    return window["end_step"] / FINAL_STEP if isinstance(window, dict) else window


def window_args(wildcards, output):
    """The alpharl command's windows, every one of the variant's in one process: for each,
    its label, a fraction or an end step, and its prediction file."""
    specs = []
    for label, path in zip(WINDOWS, output):
        window, _ = WINDOWS[label]
        how = (
            f"end-step:{window['end_step']}"
            if isinstance(window, dict)
            else f"fraction:{window}"
        )
        specs.append(f"--each-window {shlex.quote(f'{label}:{how}:{path}')}")
    return " ".join(specs)


WINDOW_ARGS = " ".join(
    f"--window {label}:{window_fraction(label)}:{steps[-1]}"
    for label, (_, steps) in WINDOWS.items()
)


def signal_metrics(variant):
    """{benchmark: metric} whose mean is the accuracy a fitted variant regresses on."""
    signal = config["alpharl"]["signals"][variant]
    names = signal["benchmarks"] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        _fail(
            f"alpharl.signals.{variant}.benchmarks: {unknown} are not configured benchmarks "
            f"({sorted(BENCHMARKS)})"
        )
    metric = signal[
        "metric"
    ]  # a pass@k beyond the budgets' n is refused by check_budgets
    return {name: metric or BENCHMARKS[name]["metric"] for name in names}


def signal_args(variant):
    """The --metric options of a variant's accuracy signal."""
    return " ".join(
        f"--metric {shlex.quote(f'{name}={metric}')}"
        for name, metric in signal_metrics(variant).items()
    )


SIGNAL_ARGS = {v: signal_args(v) for v in VARIANTS if v in SIGNAL_VARIANTS}


# --- evaluated models -------------------------------------------------------------------
# The models and their families come from rldynamics.evaluate.runmodels (also read by the disk and
# compute plans). Models are scored in chunks ("<group>/chunk-<i>", at most
# evaluate.models_per_job each, one evaluation budget per chunk): one job loads lm-eval and
# the base model once per chunk.

try:
    BUDGETS = check_budgets(config, MODELS)
except InputError as err:
    _fail(err)
CHECKPOINT_MODELS = MODELS.groups["checkpoints"]
RANK_MODELS = MODELS.groups.get("rank-k", [])
ALPHARL_MODELS = {v: MODELS.groups.get(f"alpharl-{v}", []) for v in VARIANTS}
BASELINE_MODELS = MODELS.groups.get("baseline", [])
MODELS_PER_JOB = config["evaluate"]["models_per_job"]
CHUNKS = chunks(MODELS, BUDGETS, MODELS_PER_JOB)


def chunk_budget(chunk):
    """The evaluation budget of a chunk's models (one per chunk)."""
    return BUDGETS[MODELS.family_of[CHUNKS[chunk][0]]]


def eval_csvs(prefix=""):
    """The tidy CSVs of the chunks whose name starts with ``prefix``."""
    return [f"{RESULTS}/eval/{c}.csv" for c in CHUNKS if c.startswith(prefix)]


def checkpoint_folder(step):
    return f"{RESULTS}/checkpoints/step-{step}"


def model_spec(key):
    """Labels and source of the model behind a key (see rldynamics.evaluate.scoring.model_tensors)."""
    labels = dict(key=key, model_kind="base", step=0, k=None, lam=None, variant=None)
    if key == "base":
        return {**labels, "folder": f"{RESULTS}/models/base"}
    kind, name = key.split("/", 1)
    if kind == "checkpoint":
        step = int(name.removeprefix("step-"))
        return {
            **labels,
            "model_kind": "checkpoint",
            "step": step,
            "folder": checkpoint_folder(step),
        }
    if kind.startswith(("rank-", "lam-")):
        step = int(name.removeprefix("step-"))
        k = kind.removeprefix("rank-") if kind.startswith("rank-") else "1"
        lam = (
            float(kind.removeprefix("lam-"))
            if kind.startswith("lam-")
            else config["rank_models"]["lam"]
        )
        scale = config["rank_models"]["scale"]
        return {
            **labels,
            **dict(
                model_kind="rank-k",
                step=step,
                k=k.replace("pct", "%"),
                lam=lam,
                variant=scale,
            ),
            **dict(factors=factors_path(step, factor_rank_for(k)), rank=k, scale=scale),
            # rest: rl takes the 1-D tensors that are not decomposed from the checkpoint
            **(
                dict(rest="rl", rest_from=checkpoint_folder(step))
                if REST == "rl"
                else {}
            ),
        }
    label = name.removeprefix("window-")
    window = WINDOWS[label][1]
    if kind == "baseline":
        alpha = (FINAL_STEP - window[0]) / (window[-1] - window[0])
        source = dict(
            from_=checkpoint_folder(window[0]), to=checkpoint_folder(window[-1])
        )
        return {
            **labels,
            **dict(model_kind="baseline", step=window[-1], variant="whole-weight"),
            "extrapolate": {
                "from": source["from_"],
                "to": source["to"],
                "alpha": alpha,
            },
        }
    variant = kind.removeprefix("alpharl-")
    spec = {
        **labels,
        **dict(model_kind="alpharl", step=window[-1], k="1", variant=variant),
        # The prediction is an update at its own scale (AlphaRL's rank 1, RELEX's full
        # rank): added as it is.
        **dict(
            factors=f"{RESULTS}/alpharl/{variant}/window-{label}.safetensors",
            rank=VARIANT_RANKS[variant],
        ),
        **dict(scale="none", lam=1.0),
    }
    if (
        variant == "official-code"
    ):  # the released code adds it to the window-end checkpoint
        spec["folder"] = checkpoint_folder(window[-1])
    return spec


def model_sources(spec):
    """The files a model is built from."""
    if "extrapolate" in spec:
        return [spec["extrapolate"]["from"], spec["extrapolate"]["to"]]
    return [
        p for p in (spec.get("folder"), spec.get("factors"), spec.get("rest_from")) if p
    ]


def benchmark_specs(names):
    return [
        {
            "name": name,
            "task": benchmark_task(name),
            "data": benchmark_data(name),
            "dataset": BENCHMARKS[name].get("dataset"),
        }
        for name in names
    ]


def scoring_spec(wildcards):
    """The JSON that `rldynamics evaluate --spec` reads for one chunk."""
    ev = config["evaluate"]
    budget = chunk_budget(wildcards.chunk)
    spec = {
        "run": RUN,
        "base": f"{RESULTS}/models/base",
        "benchmarks": benchmark_specs(budget["benchmarks"]),
        "models": [model_spec(key) for key in CHUNKS[wildcards.chunk]],
        "backend": ev["backend"],
        "generation": {**ev["generation"], "n": budget["n"]},
        "chat_template": ev["chat_template"],
        "log_samples": ev["log_samples"],
        "batch_size": ev["batch_size"],
        "device": ev["device"],
        "gpus": ev["gpus"],
        "trust_remote_code": config["base"]["trust_remote_code"],
        "limit": ev["limit"],
        "seed": config["seed"],
    }
    if ev["backend"] == "vllm":  # the engine's settings; an hf spec stays as it was
        spec["vllm"] = ev["vllm"]
    dtype = chunk_dtype(wildcards.chunk)
    # "auto" is the default: the spec of other chunks stays as it was
    if dtype != "auto":
        spec["dtype"] = dtype
    # a seeded subset of items, the same for every model
    if budget["limit"] is not None:
        spec["item_limit"] = budget["limit"]
    return json.dumps(spec, sort_keys=True)


def chunk_dtype(chunk):
    """The dtype a chunk's models are built and scored in: float32 for official-code (as the
    released code saves its predicted model), else the base model's own ("auto")."""
    family = chunk.split("/")[0]
    if family.startswith("alpharl-"):
        return VARIANT_SPECS[family.removeprefix("alpharl-")]["dtype"]
    return "auto"


def scoring_inputs(wildcards):
    """Files a chunk reads: base, each model's folder or factor file, tasks and data."""
    sources = []
    for key in CHUNKS[wildcards.chunk]:
        sources += model_sources(model_spec(key))
    names = chunk_budget(wildcards.chunk)["benchmarks"]
    return {
        "base": f"{RESULTS}/models/base",
        "models": sorted(set(sources)),
        "tasks": [benchmark_task(name) for name in names],
        "data": [d for d in map(benchmark_data, names) if d],
    }


CHUNK_KEY = r"[a-z0-9.-]+/chunk-\d+"
VARIANT_KEY = "|".join(map(re.escape, VARIANTS)) or "(?!)"  # (?!) matches nothing


def alpharl_inputs(wildcards):
    """The prospective variant reads no accuracy: it does not depend on the scores; relex
    reads the base and the checkpoint weights of every window."""
    inputs = {"series": f"{RESULTS}/dynamics/rank1_series.safetensors"}
    if wildcards.variant in SIGNAL_VARIANTS:
        inputs["results"] = f"{RESULTS}/tables/checkpoint_results.csv"
    if wildcards.variant in WEIGHT_VARIANTS:
        steps = sorted(
            {step for _, window_steps in WINDOWS.values() for step in window_steps}
        )
        inputs["base"] = f"{RESULTS}/models/base"
        inputs["checkpoints"] = [checkpoint_folder(step) for step in steps]
    return inputs


def weight_args(wildcards, input):
    """The relex variant's --base and --checkpoints options (or nothing)."""
    if wildcards.variant not in WEIGHT_VARIANTS:
        return ""
    return f"--base {input.base} --checkpoints {RESULTS}/checkpoints"


def accuracy_args(wildcards, input):
    """The results table and the --metric options of the variant's signal (or nothing)."""
    if wildcards.variant not in SIGNAL_VARIANTS:
        return ""
    return f"--results {input.results} {SIGNAL_ARGS[wildcards.variant]}"


ALPHARL_PREDICTIONS = [
    f"{RESULTS}/alpharl/{variant}/window-{label}.safetensors"
    for variant in VARIANTS
    for label in WINDOWS
]


# --- figures ----------------------------------------------------------------------------
# A single-checkpoint run has no trajectory figures.

FIGURES = ["accuracy_vs_step", "recovery_vs_k", "lambda_sweep"]
TRAJECTORY_FIGURES = [
    "r2_histogram",
    "alpharl_windows",
    "trajectories",
    "tsne",
    "tsne_released",
]
if TRAJECTORY:
    FIGURES += TRAJECTORY_FIGURES


def trajectory_tables(wildcards):
    if not TRAJECTORY:
        return {}
    return {
        "linearity": rules.dynamics.output.linearity,
        "control": rules.dynamics.output.control,
        "series": rules.dynamics.output.series,
        "alpharl": rules.alpharl_table.output[0],
    }


def trajectory_args(wildcards, input):
    if not TRAJECTORY:
        return ""
    return (
        f"--linearity {input.linearity} --control {input.control} --series {input.series}"
        f" --alpharl {input.alpharl}"
    )


# --- claims -----------------------------------------------------------------------------


def claims_inputs(wildcards):
    inputs = {
        "verdicts": rules.item_verdicts.output[0],
        "paper": str(REPO_DIR / "workflow/data/paper_claims.csv"),
    }
    if TRAJECTORY:
        inputs["alpharl"] = rules.alpharl_table.output[0]
        inputs["linearity"] = rules.dynamics.output.linearity
    if config["parameters"]["enabled"]:
        inputs["parameters"] = f"{RESULTS}/tables/parameters.csv"
    return inputs


def claims_args(wildcards, input):
    args = []
    if TRAJECTORY:
        args += [f"--alpharl {input.alpharl}", f"--linearity {input.linearity}"]
        args += ["--variants", *VARIANTS]
    if config["parameters"]["enabled"]:
        args.append(f"--parameters {input.parameters}")
    return " ".join(args)
