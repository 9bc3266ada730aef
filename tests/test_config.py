import copy

import jsonschema
import pytest
import yaml

from rldynamics.configdoc import render
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


def test_paper_dapo_config_dry_runs_with_all_six_benchmarks(tmp_path):
    import os
    import subprocess

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.run(
        [
            "snakemake",
            "-n",
            "-p",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "config/paper/dapo-qwen3-8b.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    scoring = [line for line in out.splitlines() if "rldynamics evaluate" in line]
    benchmarks = ["aime24", "aime25", "math500", "minerva_math", "gpqa_diamond", "gsm8k"]
    # 4 models per job: 28 base/checkpoint models; 40 rank-k models (5 ranks, 9 more λ, 26
    # more rank-1); 5 windows of each of 3 AlphaRL variants; 5 windows of the baseline.
    assert len(scoring) == 7 + 10 + 3 * 2 + 2
    for command in scoring:
        for name in benchmarks:
            assert f'"name": "{name}"' in command
    assert "toy_task" not in out and "toy_rl" not in out
    assert out.count("rldynamics download") == 28  # planned, not run
    assert not any(tmp_path.glob("results/*/models"))
