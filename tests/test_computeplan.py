"""The models of a run by family, evaluation budgets, the compute plan and its pilot: the plan's
arithmetic, the interval formulas against simulation, the README's tables and the paper
configs' comments against the plans, and the pilot on the shared toy run."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from rldynamics.core import stats
from rldynamics.core.errors import InputError
from rldynamics.evaluate.runmodels import (
    FAMILIES,
    RunModels,
    budget_key,
    check_budgets,
    chunks,
    planned_steps,
    run_models,
    seeded_items,
)
from rldynamics.runs import computeplan
from tests.conftest import REDUCED, REPO
from tests.test_config import PAPER_RUNS

SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")
PAPER = sorted(p.stem for p in (REPO / "config/paper").glob("*.yaml"))


def paper_config(run: str) -> dict:
    config = yaml.safe_load((REPO / f"config/paper/{run}.yaml").read_text())
    validate(config, SCHEMA, set_default=True)
    return config


def test_families_are_what_the_models_are():
    config = paper_config("dapo-qwen3-8b")
    run = run_models(config, config["checkpoints"]["steps"])
    counts = {f: len(run.family(f)) for f in FAMILIES}
    assert counts == {
        "base": 1,
        "final": 1,
        "window_ends": 6,  # steps 2, 5, 8, 10, 13 (10 %…50 % of 27) and 9 (released)
        "trajectory": 20,
        "rank_k": 5,
        "lam_sweep": 9,
        "rank1_trajectory": 26,
        "alpharl": 18,
        "baseline": 6,
    }
    assert run.family("window_ends") == [f"checkpoint/step-{s}" for s in (2, 5, 8, 9, 10, 13)]
    assert "rank-1/step-27" in run.family("rank_k")
    # chunking is by job group and budget, never across budgets
    budgets = check_budgets(config, run)
    for keys in chunks(run, budgets, 4).values():
        assert len({budget_key(budgets[run.family_of[k]]) for k in keys}) == 1


def test_one_budget_for_all_keeps_the_chunks_of_before():
    config = paper_config("dapo-qwen3-8b")
    config["evaluate"]["budgets"] = {}
    run = run_models(config, config["checkpoints"]["steps"])
    found = chunks(run, check_budgets(config, run), 4)
    expected = {}
    for group, keys in run.groups.items():
        for i in range(0, len(keys), 4):
            expected[f"{group}/chunk-{i // 4}"] = keys[i : i + 4]
    assert found == expected


def test_seeded_items_are_the_same_nested_and_sorted():
    first = seeded_items(500, 50, seed=3)
    assert first == seeded_items(500, 50, seed=3) and first == sorted(first)
    assert len(set(first)) == 50 and set(first) <= set(seeded_items(500, 120, seed=3))
    assert first != list(range(50)) and first != seeded_items(500, 50, seed=4)
    assert seeded_items(30, 50, seed=3) == list(range(30))


@pytest.mark.parametrize(
    "budgets, message",
    [
        ({"trajectory": {"n": 2}}, "pass@4 is not in the results table of the trajectory"),
        (
            {"trajectory": {"benchmarks": ["gsm8k"]}},
            "trajectory models feed alpharl.signals.paper, which reads",
        ),
        ({"alpharl": {"benchmarks": ["mmlu"]}}, "evaluate.budgets.alpharl.benchmarks: ['mmlu']"),
    ],
)
def test_bad_budgets_name_the_key(budgets, message):
    config = paper_config("dapo-qwen3-8b")
    config["evaluate"]["budgets"] = budgets
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_budgets(config, run_models(config, config["checkpoints"]["steps"]))


def test_a_pass_at_k_primary_metric_needs_n_of_k_in_every_family():
    config = paper_config("orz-qwen2.5-7b")
    config["benchmarks"]["aime24"]["metric"] = "pass@8"
    with pytest.raises(InputError, match=r"evaluate.budgets.lam_sweep.n = 4: .*aime24.*pass@8"):
        check_budgets(config, run_models(config, config["checkpoints"]["steps"]))


def test_plan_arithmetic_and_the_dapo_budget():
    result = computeplan.plan(paper_config("dapo-qwen3-8b"))
    settings = result["settings"]
    for row in result["rows"]:
        assert row["generations"] == row["models"] * row["items"] * row["n"]
        assert row["tokens"] == row["generations"] * row["completion_tokens"]
        assert row["gpu_hours"] == pytest.approx(row["tokens"] / settings["throughput"] / 3600)
    totals = result["totals"]
    jobs = PAPER_RUNS["dapo-qwen3-8b"]  # the dry run's job counts
    assert totals["models"] == 92 and totals["scoring_jobs"] == jobs["evaluate"]
    assert totals["decompose_jobs"] == jobs["decompose"] + jobs["base_metrics"]
    assert totals["generations"] == sum(r["generations"] for r in result["rows"])
    # the aim: at least 2× fewer tokens than 32 samples on every model
    assert totals["tokens_ratio"] >= 2
    families = {f["family"]: f for f in result["families"]}
    for name, family in families.items():
        assert np.isfinite(family["accuracy_half_width"])
        assert (family["headline"] is None) == (name == "base")
        if family["headline"]:
            assert np.isfinite(family["headline_half_width"]), name
    # fewer samples cost precision, by the amount the between-item spread allows
    assert families["lam_sweep"]["headline_half_width"] > families["rank_k"]["headline_half_width"]
    assert totals["gpu_hours"] == pytest.approx(
        totals["generation_gpu_hours"] + totals["engine_gpu_hours"] + totals["decompose_hours"]
    )
    assert totals["engine_gpu_hours"] == pytest.approx(92 * settings["engine_start_s"] / 3600)


def test_item_limit_prices_fewer_items():
    config = paper_config("dapo-qwen3-8b")
    config["evaluate"]["budgets"]["trajectory"] = {"n": 4, "limit": 100}
    rows = {(r["family"], r["benchmark"]): r for r in computeplan.plan(config)["rows"]}
    assert rows[("trajectory", "gsm8k")]["items"] == 100
    assert rows[("trajectory", "aime24")]["items"] == 30
    full = computeplan.plan(paper_config("dapo-qwen3-8b"))["rows"]
    gsm = next(r for r in full if r["family"] == "trajectory" and r["benchmark"] == "gsm8k")
    assert rows[("trajectory", "gsm8k")]["accuracy_half_width"] > gsm["accuracy_half_width"]


def test_covariance_of_nested_item_subsets_matches_simulation():
    """Two models on 200 and the first 100 of the same items, 4 samples each, chances drawn
    from a beta of the planned spread and shared with probability ρ."""
    rng = np.random.default_rng(0)
    items, n, p, share, rho = 200, 4, 0.5, 0.6, 0.8
    a = 0.5 * (1 / share - 1)  # beta(a, a): variance p(1 − p)·share
    draws = []
    for _ in range(3000):
        chance = rng.beta(a, a, size=items)
        other = np.where(rng.random(items) < rho, chance, rng.beta(a, a, size=items))
        draws.append(
            [
                (rng.binomial(n, chance) / n).mean(),
                (rng.binomial(n, other[:100]) / n).mean(),
            ]
        )
    sd = np.sqrt(share * p * (1 - p))
    planned = stats.accuracy_covariance([p, p], [items, 100], [n, n], [sd, sd], rho)
    assert np.cov(np.array(draws).T) == pytest.approx(planned, rel=0.12)


def test_delta_gradients_are_the_derivatives():
    def numeric(f, x, h=1e-6):
        return np.array([(f(*(x + h * e)) - f(*(x - h * e))) / (2 * h) for e in np.eye(len(x))])

    x = np.array([0.45, 0.3, 0.5])
    assert stats.recovery_gradient(*x) == pytest.approx(
        numeric(lambda k, b, f: (k - b) / (f - b), x), rel=1e-5
    )
    y = np.array([0.4, 0.5])
    assert stats.retention_gradient(*y) == pytest.approx(numeric(lambda a, f: a / f, y), rel=1e-5)


def test_between_item_sd_from_verdicts():
    rng = np.random.default_rng(1)
    chances = rng.beta(1, 1, size=4000)  # sd √(1/12)
    correct = rng.binomial(8, chances)
    assert stats.between_item_sd(correct, np.full(4000, 8)) == pytest.approx(
        np.sqrt(1 / 12), rel=0.05
    )
    single = rng.binomial(1, chances)
    assert np.isnan(stats.between_item_sd(single, np.ones(4000)))
    # greedy decoding: one sample is the item's verdict, all variance is between items
    assert stats.between_item_sd(single, np.ones(4000), deterministic=True) == pytest.approx(
        single.std(ddof=1)
    )


def test_readme_tables_and_config_comments_are_the_plans(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "README.md").read_text())
    configs = [f"config/paper/{run}.yaml" for run in PAPER]
    proc = subprocess.run(
        ["rldynamics", "compute-plan", "--config", *configs, "--readme", str(readme)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert readme.read_text() == (REPO / "README.md").read_text(), (
        "README's compute plans are stale: rerun the command of its Compute plan section"
    )
    for run in PAPER:
        text = (REPO / f"config/paper/{run}.yaml").read_text()
        line = computeplan.summary_line(computeplan.plan(paper_config(run)))
        assert f"# {line}\n" in text, f"{run}: rerun compute-plan --config-comment"


def test_plan_refuses_what_it_cannot_price(tmp_path):
    config = paper_config("orz-qwen2.5-7b")
    del config["plan"]["benchmarks"]["gsm8k"]
    with pytest.raises(InputError, match="plan.benchmarks.gsm8k.items is not set"):
        computeplan.plan(config)
    bad = tmp_path / "bad.yaml"
    raw = yaml.safe_load((REPO / "config/paper/orz-qwen2.5-7b.yaml").read_text())
    raw["evaluate"]["budgets"] = {"lam_sweep": {"n": 0}}
    bad.write_text(yaml.safe_dump(raw))
    proc = subprocess.run(
        ["rldynamics", "compute-plan", "--config", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and str(bad) in proc.stderr, proc.stderr


def test_pilot_on_the_shared_toy_run(finished_run):
    """Every test item of the reduced toy world: the pilot's accuracies are the run's own."""
    config = finished_run / "config.yaml"
    n_test = REDUCED["toy"]["task"]["n_test"]
    proc = subprocess.run(
        ["rldynamics", "compute-plan", "--config", str(config), "--json", "--pilot"]
        + ["--workdir", str(finished_run), "--pilot-items", str(n_test)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    measured = result["pilot"]["measured"]["benchmarks"]["toy_arithmetic"]
    table = pd.read_csv(finished_run / "results/ci/tables/results.csv")
    acc = table[(table["metric"] == "acc") & (table["benchmark"] == "toy_arithmetic")]
    final = max(acc["step"])
    assert measured["base_accuracy"] == pytest.approx(
        acc[acc["model_kind"] == "base"]["value"].item()
    )
    assert measured["final_accuracy"] == pytest.approx(
        acc[(acc["model_kind"] == "checkpoint") & (acc["step"] == final)]["value"].item()
    )
    max_tokens = 8  # the toy default's evaluate.generation.max_new_tokens
    assert 0 < measured["completion_tokens"] <= max_tokens
    assert result["pilot"]["measured"]["throughput"] > 0
    # the plan is priced with the measurements, the configured plan kept beside
    figures = result["settings"]["benchmarks"]["toy_arithmetic"]
    assert figures["completion_tokens"] == pytest.approx(measured["completion_tokens"])
    assert result["settings"]["throughput"] == pytest.approx(
        result["pilot"]["measured"]["throughput"]
    )
    assert result["pilot"]["configured_plan"]["settings"]["throughput"] == 2000


def test_item_limit_scores_the_seeded_items_through_lm_eval(tmp_path):
    """lm-eval's ``samples`` takes the subset: the item indices its task holds."""
    from lm_eval.tasks import TaskManager

    from rldynamics.evaluate.scoring import item_subsets, task_config

    data = tmp_path / "test.jsonl"
    data.write_text("".join(f'{{"question": "{i}+1=", "answer": "{i + 1}"}}\n' for i in range(12)))
    config = task_config(REPO / "workflow/tasks/toy_arithmetic.yaml", data)
    config["task"] = "toy_arithmetic"
    manager = TaskManager(include_defaults=False)
    subsets = item_subsets([config], manager, None, 5, seed=7)
    assert subsets == {"toy_arithmetic": seeded_items(12, 5, seed=7)}
    # evaluate.limit caps the pool the subset is drawn from
    capped = item_subsets([config], manager, 8, 5, seed=7)
    assert capped == {"toy_arithmetic": seeded_items(8, 5, seed=7)}


def test_hf_engine_starts_are_the_jobs_shared_out_over_families():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    validate(config, SCHEMA, set_default=True)
    result = computeplan.plan(config)
    starts = sum(f["engine_starts"] for f in result["families"])
    assert starts == pytest.approx(result["totals"]["scoring_jobs"])
    assert result["totals"]["scoring_jobs"] == 10  # the toy world's evaluate jobs
    # 40 checkpoints with their metrics, W0's share, the full factors of the final update
    assert result["totals"]["decompose_jobs"] == 40 + 1 + 1


def test_a_family_s_budget_reaches_its_scoring_jobs(tmp_path):
    """The DAG gives each chunk its family's samples, benchmarks and seeded item limit."""
    import re

    from tests.test_config import dry_run

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["evaluate"]["budgets"] = {"trajectory": {"limit": 50}, "lam_sweep": {"n": 2}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    out, stats_ = dry_run(tmp_path / "c.yaml", tmp_path)
    scoring = [line for line in out.splitlines() if "rldynamics evaluate" in line]
    assert len(scoring) == stats_["evaluate"]
    validate(config, SCHEMA, set_default=True)
    family_of = run_models(config, planned_steps(config)).family_of
    families = set()
    for line in scoring:
        keys = re.findall(r'"key": "([^"]+)"', line)
        family = {family_of[k] for k in keys}
        families |= family
        assert ('"item_limit": 50' in line) == (family == {"trajectory"}), line
        n = ["2"] if family == {"lam_sweep"} else ["1"]
        assert re.findall(r'"n": (\d+)', line) == n, line
    assert families == set(FAMILIES)


# --- the plan's steps -----------------------------------------------------------------------

DAPO_ITEMS = 30 + 30 + 500 + 272 + 198 + 1319
DAPO_TOKENS_PER_MODEL_AND_SAMPLE = 30 * 4000 * 2 + (500 + 272) * 1500 + 198 * 2500 + 1319 * 500


def dapo_parts():
    config = paper_config("dapo-qwen3-8b")
    steps = planned_steps(config)
    run = run_models(config, steps)
    return config, steps, run, check_budgets(config, run), computeplan.benchmark_figures(config)


def half_width(p, items, n, share=0.6):
    """The 95 % half-width of an accuracy, written out: between-item and sampling variance."""
    pq = p * (1 - p)
    return stats.Z95 * np.sqrt((share * pq + (1 - share) * pq / n) / items)


def test_family_rows_price_each_benchmark_of_the_budget():
    config, _, _, budgets, figures = dapo_parts()
    rows = computeplan.family_rows(config, "final", 1, budgets, figures)
    assert [r["benchmark"] for r in rows] == list(config["benchmarks"])
    aime = rows[0]
    assert (aime["models"], aime["items"], aime["n"], aime["generations"]) == (1, 30, 32, 960)
    assert aime["tokens"] == 3_840_000
    assert aime["gpu_hours"] == pytest.approx(3_840_000 / 2000 / 3600)
    assert aime["accuracy"] == 0.2854
    assert aime["accuracy_half_width"] == pytest.approx(half_width(0.2854, 30, 32))
    assert aime["headline"] == "gain" and np.isfinite(aime["headline_half_width"])
    trajectory = computeplan.family_rows(config, "trajectory", 20, budgets, figures)
    gsm = next(r for r in trajectory if r["benchmark"] == "gsm8k")
    assert (gsm["n"], gsm["generations"]) == (4, 20 * 1319 * 4)
    figures["aime24"]["final_accuracy"] = None
    unknown = computeplan.family_rows(config, "final", 1, budgets, figures)[0]
    assert unknown["accuracy"] is None
    assert unknown["accuracy_half_width"] == pytest.approx(half_width(0.5, 30, 32))
    assert np.isnan(unknown["headline_half_width"])


def test_engine_starts_are_per_model_with_vllm_and_shared_jobs_with_hf():
    family_of = {"a": "final", "b": "final", "c": "rank_k", "d": "rank_k", "e": "rank_k"}
    run = RunModels(steps=[1], eval_steps=[1], windows={}, family_of={**family_of, "f": "final"})
    jobs = {"j0": ["a", "c"], "j1": ["b"], "j2": ["d", "e", "f"]}
    assert computeplan.engine_starts("vllm", run, "final", jobs) == 3
    assert computeplan.engine_starts("hf", run, "final", jobs) == pytest.approx(1 / 2 + 1 + 1 / 3)
    assert computeplan.engine_starts("hf", run, "rank_k", jobs) == pytest.approx(1 / 2 + 2 / 3)


def test_family_summary_adds_up_its_rows():
    config, _, _, budgets, figures = dapo_parts()
    rows = computeplan.family_rows(config, "final", 1, budgets, figures)
    summary = computeplan.family_summary(config, "final", 1, budgets, figures, rows, 2)
    assert (summary["models"], summary["n"], summary["limit"]) == (1, 32, None)
    assert summary["items"] == DAPO_ITEMS and summary["generations"] == DAPO_ITEMS * 32
    assert summary["tokens"] == 32 * DAPO_TOKENS_PER_MODEL_AND_SAMPLE
    assert summary["generation_gpu_hours"] == pytest.approx(summary["tokens"] / 2000 / 3600)
    assert summary["engine_starts"] == 2
    assert summary["engine_gpu_hours"] == pytest.approx(2 * 120 / 3600)
    widths = [half_width(figures[b]["final_accuracy"], figures[b]["items"], 32) for b in figures]
    assert summary["accuracy_half_width"] == pytest.approx(np.sqrt(np.sum(np.square(widths))) / 6)
    # the mean over six benchmarks is known better than its least precise one
    assert summary["headline"] == "gain"
    assert 0 < summary["headline_half_width"] < max(r["headline_half_width"] for r in rows)


def test_reference_tokens_are_n_samples_on_every_model_and_item():
    config, _, _, _, figures = dapo_parts()
    families = [{"models": 2}, {"models": 3}]
    assert computeplan.reference_tokens(config, figures, families) == (
        5 * 32 * DAPO_TOKENS_PER_MODEL_AND_SAMPLE
    )
    config["evaluate"]["limit"] = 100
    capped = 30 * 4000 * 2 + 100 * (1500 + 1500 + 2500 + 500)
    assert computeplan.reference_tokens(config, figures, families) == 5 * 32 * capped


def test_decompose_jobs_count_checkpoints_w0_and_extra_ranks():
    config, steps, run, _, _ = dapo_parts()
    assert computeplan.decompose_jobs(config, steps, run) == 27 + 1
    config["rank_models"]["ranks"] = [16, 32, "full"]
    assert computeplan.decompose_jobs(config, steps, run) == 27 + 1 + 2
    config["parameters"]["enabled"] = False
    assert computeplan.decompose_jobs(config, [1, 2, 3], run) == len(run.eval_steps) + 2


def test_plan_totals_count_only_what_runs_on_a_gpu():
    config, steps, run, _, figures = dapo_parts()
    families = [
        {"models": 1, "generations": 10, "tokens": 1000.0}
        | {"generation_gpu_hours": 2.0, "engine_gpu_hours": 0.5},
        {"models": 3, "generations": 30, "tokens": 3000.0}
        | {"generation_gpu_hours": 4.0, "engine_gpu_hours": 1.5},
    ]
    totals = computeplan.plan_totals(config, run, steps, figures, families, 7)
    reference = 4 * 32 * DAPO_TOKENS_PER_MODEL_AND_SAMPLE
    assert totals == {
        "models": 92,
        "scoring_jobs": 7,
        "generations": 40,
        "tokens": 4000.0,
        "reference_tokens": reference,
        "reference_n": 32,
        "tokens_ratio": reference / 4000,
        "generation_gpu_hours": 6.0,
        "engine_gpu_hours": 2.0,
        "decompose_jobs": 28,
        "decompose_hours": pytest.approx(28 * 60 / 3600),
        "decompose_on_gpu": True,
        "scoring_on_gpu": True,
        "gpu_hours": pytest.approx(8 + 28 * 60 / 3600),
    }
    assert list(totals)[-1] == "gpu_hours"
    config["evaluate"]["gpus"] = 0
    cpu = computeplan.plan_totals(config, run, steps, figures, families, 7)
    assert cpu["gpu_hours"] == pytest.approx(28 * 60 / 3600) and not cpu["scoring_on_gpu"]


def test_plan_settings_are_the_configured_figures():
    config, _, _, _, figures = dapo_parts()
    config["plan"]["throughput"] = 2500
    settings = computeplan.plan_settings(config, figures)
    assert list(settings) == [
        "throughput",
        "engine_start_s",
        "decompose_gpu_s",
        "between_item_share",
        "item_correlation",
        "backend",
        "benchmarks",
    ]
    assert isinstance(settings["throughput"], float) and settings["throughput"] == 2500
    assert (settings["engine_start_s"], settings["decompose_gpu_s"]) == (120, 60)
    assert settings["backend"] == "vllm" and settings["benchmarks"] is figures


def test_a_vllm_pilot_scores_with_the_configured_engine(tmp_path):
    """The pilot's scoring job carries evaluate.vllm as the pipeline's scoring jobs do (it
    ran with vLLM's own defaults before)."""
    from rldynamics.runs.pilot import pilot_job

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["evaluate"]["backend"] = "vllm"
    config["evaluate"]["vllm"] = {"memory_share": 0.5, "kv_cache_gib": 2}
    results = tmp_path / "results" / config["run"]
    for folder in ("models/base", "checkpoints/step-200"):
        (results / folder).mkdir(parents=True)
    job = pilot_job(config, [100, 200], tmp_path, items=4)
    assert job.backend == "vllm"
    assert (job.vllm.memory_share, job.vllm.kv_cache_gib) == (0.5, 2)
