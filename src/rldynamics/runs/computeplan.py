"""Compute plan of a run: what scoring costs per family of models, and how precise it is.

From the run's models (:mod:`rldynamics.evaluate.runmodels`, the DAG's own list), each family's
evaluation budget (``evaluate.budgets``) and the planning figures (``plan``: mean completion
length and item count per benchmark, throughput, engine start, decomposition time, the
between-item spread and the items' correlation between models), the plan gives per family and
benchmark the models, items, samples, generations, generated tokens and GPU-hours, and the
expected 95 % half-width of the accuracy and of the family's headline quantity, computed with
:mod:`rldynamics.core.stats` (nested item subsets, pairing over shared items, the delta method).
"""

from __future__ import annotations

import math

import numpy as np

from rldynamics.core import stats
from rldynamics.core.errors import InputError
from rldynamics.evaluate.runmodels import (
    FAMILIES,
    RunModels,
    check_budgets,
    chunks,
    planned_steps,
    run_models,
)

# What each family is for, as the plan reports it: the quantity its models enter, compared with
# which others. gain: acc − acc(base); recovery: (acc − base)/(final − base); retention:
# acc / acc(final).
HEADLINE = {
    "base": None,
    "final": "gain",
    "window_ends": "gain",
    "trajectory": "gain",
    "rank_k": "recovery",
    "lam_sweep": "recovery",
    "rank1_trajectory": "recovery",
    "alpharl": "retention",
    "baseline": "retention",
}
HOUR = 3600.0


def _generated_test_items(config: dict) -> int | None:
    """Held-out items of a task the pipeline generates itself (the toy's, or the rl task's)."""
    if config["base"]["source"] == "toy":
        return config["toy"]["task"]["n_test"]
    if config["checkpoints"]["source"] == "rl":  # the pipeline's RL on a real base
        return config["rl"]["task"]["n_test"]
    return None


def benchmark_figures(config: dict) -> dict[str, dict]:
    """{benchmark: items, completion_tokens, base_accuracy, final_accuracy, source} of the
    configured benchmarks, from ``plan.benchmarks`` (a toy or rl-task benchmark: its test items)."""
    figures = {}
    max_tokens = config["evaluate"]["generation"]["max_new_tokens"]
    generated_items = _generated_test_items(config)
    for name, bench in config["benchmarks"].items():
        own = dict(config["plan"]["benchmarks"].get(name) or {})
        if "items" not in own:
            if "{results}" in str(bench.get("data") or "") and generated_items:
                own["items"] = generated_items
            else:
                raise InputError(
                    f"config: plan.benchmarks.{name}.items is not set: the plan needs the item "
                    "count of every benchmark"
                )
        figures[name] = {
            "items": int(own["items"]),
            "completion_tokens": float(own.get("completion_tokens") or max_tokens),
            "tokens_source": "configured" if own.get("completion_tokens") else "max_new_tokens",
            "base_accuracy": own.get("base_accuracy"),
            "final_accuracy": own.get("final_accuracy"),
            "source": own.get("source"),
        }
    return figures


def scored_items(config: dict, items: int, limit: int | None) -> int:
    """Items of a benchmark a budget scores: its limit of the pool (evaluate.limit caps it)."""
    pool = min(items, config["evaluate"]["limit"] or items)
    return min(pool, limit or pool)


def _model_accuracy(family: str, bench: dict) -> float | None:
    """The accuracy a model of ``family`` is planned at: the base's, or the final checkpoint's
    (rank-k, λ, AlphaRL and baseline are planned at their claims: recovery, retention ≈ 1)."""
    return bench["base_accuracy"] if family == "base" else bench["final_accuracy"]


def _headline(kind, family, budgets, config, figures, names) -> float:
    """Expected 95 % half-width of the family's headline quantity on the mean accuracy over
    benchmarks ``names`` (one benchmark, or the paper's average; benchmarks are independent),
    by the delta method; NaN where an accuracy is unknown or a model it needs is not scored on
    every one of them (comparisons use only the benchmarks their models share)."""
    if kind is None or not names:
        return float("nan")
    known = ("base_accuracy", "final_accuracy")
    if any(figures[b][key] is None for b in names for key in known):
        return float("nan")
    partners = {"gain": ["base"], "recovery": ["base", "final"], "retention": ["final"]}[kind]
    members = [family, *partners]
    if any(m not in budgets or not set(names) <= set(budgets[m]["benchmarks"]) for m in members):
        return float("nan")
    size = len(members)
    cov = np.zeros((size, size))
    for name in names:
        bench = figures[name]
        p = [bench["base_accuracy"] if m == "base" else bench["final_accuracy"] for m in members]
        n_items = [scored_items(config, bench["items"], budgets[m]["limit"]) for m in members]
        n = [budgets[m]["n"] for m in members]
        share = config["plan"]["between_item_share"]
        sd = [math.sqrt(share * q * (1 - q)) for q in p]
        cov += stats.accuracy_covariance(p, n_items, n, sd, config["plan"]["item_correlation"])
    cov /= len(names) ** 2
    base = float(np.mean([figures[b]["base_accuracy"] for b in names]))
    final = float(np.mean([figures[b]["final_accuracy"] for b in names]))
    if kind == "gain":
        gradient = [1.0, -1.0]
    elif kind == "recovery":
        if final == base:
            return float("nan")
        gradient = stats.recovery_gradient(final, base, final)
    else:
        gradient = stats.retention_gradient(final, final)
    return stats.delta_half_width(gradient, cov)


def family_rows(config: dict, family: str, n_models: int, budgets: dict, figures: dict) -> list:
    """Per benchmark of ``family``'s budget: its items, samples, generations, tokens, GPU-hours
    and the expected half-widths of its accuracy and headline quantity."""
    budget = budgets[family]
    kind = HEADLINE[family]
    throughput = float(config["plan"]["throughput"])
    share = config["plan"]["between_item_share"]
    rows = []
    for name in budget["benchmarks"]:
        bench = figures[name]
        items = scored_items(config, bench["items"], budget["limit"])
        generations = n_models * items * budget["n"]
        tokens = generations * bench["completion_tokens"]
        p = _model_accuracy(family, bench)
        planned_p = 0.5 if p is None else p  # unknown: the widest binomial spread
        sd = math.sqrt(share * planned_p * (1 - planned_p))
        rows.append(
            {
                "family": family,
                "benchmark": name,
                "models": n_models,
                "items": items,
                "n": budget["n"],
                "generations": generations,
                "completion_tokens": bench["completion_tokens"],
                "tokens": tokens,
                "gpu_hours": tokens / throughput / HOUR,
                "accuracy": p,
                "accuracy_half_width": float(
                    stats.accuracy_half_width(planned_p, items, budget["n"], sd)
                ),
                "headline": kind,
                "headline_half_width": _headline(kind, family, budgets, config, figures, [name]),
            }
        )
    return rows


def engine_starts(backend: str, run: RunModels, family: str, job_chunks: dict) -> float:
    """Engine starts charged to ``family``: one per model with vllm; with hf one per scoring
    job, each job's start shared out over the families of its models."""
    if backend == "vllm":
        return len(run.family(family))
    return sum(
        sum(run.family_of[k] == family for k in keys) / len(keys) for keys in job_chunks.values()
    )


def family_summary(
    config: dict, family: str, n_models: int, budgets: dict, figures: dict, rows: list, starts
) -> dict:
    """``family``'s totals over its benchmark ``rows``: generations, tokens, GPU-hours of
    generation and of its engine ``starts``, and half-widths on the mean over benchmarks."""
    budget = budgets[family]
    kind = HEADLINE[family]
    acc_avg = math.sqrt(sum(r["accuracy_half_width"] ** 2 for r in rows)) / len(rows)
    return {
        "family": family,
        "what": FAMILIES[family],
        "models": n_models,
        "benchmarks": budget["benchmarks"],
        "items": sum(r["items"] for r in rows),
        "n": budget["n"],
        "limit": budget["limit"],
        "generations": sum(r["generations"] for r in rows),
        "tokens": sum(r["tokens"] for r in rows),
        "generation_gpu_hours": sum(r["gpu_hours"] for r in rows),
        "engine_starts": starts,
        "engine_gpu_hours": starts * config["plan"]["engine_start_s"] / HOUR,
        "accuracy_half_width": acc_avg,
        "headline": kind,
        "headline_half_width": _headline(
            kind, family, budgets, config, figures, budget["benchmarks"]
        ),
    }


def reference_tokens(config: dict, figures: dict, families: list) -> float:
    """Tokens of ``evaluate.generation.n`` samples on every model of ``families``, every
    benchmark and every item (evaluate.limit still caps the pool)."""
    return sum(
        f["models"]
        * sum(
            scored_items(config, figures[b]["items"], None) * figures[b]["completion_tokens"]
            for b in config["benchmarks"]
        )
        * config["evaluate"]["generation"]["n"]
        for f in families
    )


def decompose_jobs(config: dict, steps: list[int], run: RunModels) -> int:
    """Decomposition jobs: every checkpoint where the parameter metrics are on (plus W0's
    share), the evaluated ones otherwise, and one per rank beyond decompose.rank."""
    metrics = config["parameters"]["enabled"]
    decomposed = len(steps) if metrics else len(run.eval_steps)
    return decomposed + len(_extra_ranks(config)) + int(metrics)


def plan_totals(
    config: dict, run: RunModels, steps: list[int], figures: dict, families: list, n_jobs: int
) -> dict:
    """The run's totals over ``families``, the decomposition's and the GPU-hours of the parts
    that run on a GPU."""
    ev = config["evaluate"]
    reference = reference_tokens(config, figures, families)
    jobs = decompose_jobs(config, steps, run)
    decompose_hours = jobs * config["plan"]["decompose_gpu_s"] / HOUR
    scoring_hours = sum(f["generation_gpu_hours"] + f["engine_gpu_hours"] for f in families)
    totals = {
        "models": len(run.family_of),
        "scoring_jobs": n_jobs,
        "generations": sum(f["generations"] for f in families),
        "tokens": sum(f["tokens"] for f in families),
        "reference_tokens": reference,
        "reference_n": ev["generation"]["n"],
        "tokens_ratio": reference / max(1.0, sum(f["tokens"] for f in families)),
        "generation_gpu_hours": sum(f["generation_gpu_hours"] for f in families),
        "engine_gpu_hours": sum(f["engine_gpu_hours"] for f in families),
        "decompose_jobs": jobs,
        "decompose_hours": decompose_hours,
        "decompose_on_gpu": config["decompose"]["gpus"] > 0,
        "scoring_on_gpu": ev["gpus"] > 0,
    }
    totals["gpu_hours"] = (
        scoring_hours * totals["scoring_on_gpu"] + decompose_hours * totals["decompose_on_gpu"]
    )
    return totals


def plan_settings(config: dict, figures: dict) -> dict:
    """The planning figures the plan is priced with."""
    settings = config["plan"]
    return {
        "throughput": float(settings["throughput"]),
        "engine_start_s": settings["engine_start_s"],
        "decompose_gpu_s": settings["decompose_gpu_s"],
        "between_item_share": settings["between_item_share"],
        "item_correlation": settings["item_correlation"],
        "backend": config["evaluate"]["backend"],
        "benchmarks": figures,
    }


def plan(config: dict, steps: list[int] | None = None) -> dict:
    """The compute plan of ``config`` (validated, defaults filled): rows per family and
    benchmark, a summary per family, totals and the settings the figures come from."""
    steps = planned_steps(config) if steps is None else steps
    run: RunModels = run_models(config, steps)
    budgets = check_budgets(config, run)
    figures = benchmark_figures(config)
    job_chunks = chunks(run, budgets, config["evaluate"]["models_per_job"])
    rows, families = [], []
    for family in FAMILIES:
        n_models = len(run.family(family))
        if not n_models:
            continue
        fam_rows = family_rows(config, family, n_models, budgets, figures)
        rows += fam_rows
        starts = engine_starts(config["evaluate"]["backend"], run, family, job_chunks)
        families.append(
            family_summary(config, family, n_models, budgets, figures, fam_rows, starts)
        )
    return {
        "run": config["run"],
        "rows": rows,
        "families": families,
        "totals": plan_totals(config, run, steps, figures, families, len(job_chunks)),
        "settings": plan_settings(config, figures),
    }


def _extra_ranks(config: dict) -> list[str]:
    """Ranks of rank_models.ranks that need a decomposition of their own (decompose_rank)."""
    rank = config["decompose"]["rank"]
    extra = set()
    for k in config["rank_models"]["ranks"]:
        k = str(k)
        if not (k.isdigit() and int(k) <= rank):
            extra.add(k if k.isdigit() else "full")
    return sorted(extra)


# --- rendering ------------------------------------------------------------------------------


def _tokens(value: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return f"{value:.0f}"


def _hours(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.3f}"


def _half_width(kind, value) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if kind in (None, "gain", "accuracy"):
        return f"±{100 * value:.1f} pts"
    return f"±{value:.3f}"


def markdown(result: dict) -> str:
    """The plan as one table: a row per family, the totals below."""
    totals = result["totals"]
    hours = "GPU-h" if totals["scoring_on_gpu"] else "CPU-h"
    lines = [
        f"| Family | Models | Benchmarks (items) | Samples | Generations | Tokens | {hours} "
        "| Accuracy (avg) | Headline (avg) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for f in result["families"]:
        limit = f" ≤{f['limit']} each" if f["limit"] else ""
        headline = (
            f"{f['headline']} {_half_width(f['headline'], f['headline_half_width'])}"
            if f["headline"]
            else "–"
        )
        hours = f["generation_gpu_hours"] + f["engine_gpu_hours"]
        lines.append(
            f"| {f['family']} | {f['models']} | {len(f['benchmarks'])} ({f['items']}{limit}) "
            f"| {f['n']} | {f['generations']:,} | {_tokens(f['tokens'])} | {_hours(hours)} "
            f"| {_half_width('accuracy', f['accuracy_half_width'])} | {headline} |"
        )
    s = result["settings"]
    where = "GPU" if totals["scoring_on_gpu"] else "CPU"
    lines.append(
        f"| **scoring** ({totals['scoring_jobs']} jobs; {_hours(totals['engine_gpu_hours'])} h "
        f"of engine starts at {s['engine_start_s']:.3g} s; {s['throughput']:,.0f} tokens/s per "
        f"{where})"
        f" | {totals['models']} | | | {totals['generations']:,} | {_tokens(totals['tokens'])} "
        f"| {_hours(totals['generation_gpu_hours'] + totals['engine_gpu_hours'])} | | |"
    )
    where = "GPU" if totals["decompose_on_gpu"] else "CPU"
    lines.append(
        f"| **decomposition and parameter metrics** ({totals['decompose_jobs']} jobs at "
        f"{s['decompose_gpu_s']:.3g} s, on the {where}) | | | | | "
        f"| {_hours(totals['decompose_hours'])} | | |"
    )
    lines.append(f"| **total GPU-hours** | | | | | | **{_hours(totals['gpu_hours'])}** | | |")
    lines.append(
        f"| n = {totals['reference_n']} on every model, every benchmark and item | | | "
        f"{totals['reference_n']} | | {_tokens(totals['reference_tokens'])} | | | "
        f"**{totals['tokens_ratio']:.2f}×** the tokens of this plan |"
    )
    return "\n".join(lines) + "\n"


def benchmark_markdown(result: dict) -> str:
    """Per family and benchmark: the plan's detail (the command prints it)."""
    lines = [
        "| Family | Benchmark | Models | Items | Samples | Generations | Tokens/sample "
        f"| Tokens | {'GPU-h' if result['totals']['scoring_on_gpu'] else 'CPU-h'} "
        "| Accuracy | Headline |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        acc = "?" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %"
        head = f"{r['headline']} {_half_width(r['headline'], r['headline_half_width'])}"
        lines.append(
            f"| {r['family']} | {r['benchmark']} | {r['models']} | {r['items']} | {r['n']} "
            f"| {r['generations']:,} | {r['completion_tokens']:,.0f} | {_tokens(r['tokens'])} "
            f"| {_hours(r['gpu_hours'])} | {acc} "
            f"{_half_width('accuracy', r['accuracy_half_width'])} "
            f"| {head if r['headline'] else '–'} |"
        )
    return "\n".join(lines) + "\n"


def figures_markdown(result: dict) -> str:
    """The figures the plan is priced with, each with where it comes from."""
    s = result["settings"]
    lines = ["| Benchmark | Items | Tokens/sample | Base acc. | Final acc. | Source |"]
    lines.append("|---|---:|---:|---:|---:|---|")
    for name, b in s["benchmarks"].items():
        tokens = f"{b['completion_tokens']:,.0f}" + (
            " (max_new_tokens, an upper bound)" if b["tokens_source"] == "max_new_tokens" else ""
        )

        def acc(v):
            return "?" if v is None else f"{100 * v:.1f} %"

        lines.append(
            f"| {name} | {b['items']} | {tokens} | {acc(b['base_accuracy'])} "
            f"| {acc(b['final_accuracy'])} | {b['source'] or 'plan.benchmarks not set'} |"
        )
    return "\n".join(lines) + "\n"


def summary_line(result: dict) -> str:
    """One line for a paper config's comment."""
    t = result["totals"]
    return (
        f"compute plan: {_hours(t['gpu_hours'])} GPU-hours, {_tokens(t['tokens'])} generated "
        f"tokens ({t['reference_n']} samples on every model: {t['tokens_ratio']:.2f}× as many); "
        "`rldynamics compute-plan --config <this file>`"
    )


def block_markers(run: str) -> tuple[str, str]:
    return f"<!-- compute-plan:{run}:begin -->", f"<!-- compute-plan:{run}:end -->"


def replace_block(document: str, run: str, table: str, source) -> str:
    """``document`` with the text between run's compute-plan markers replaced by ``table``."""
    from rldynamics.core.io import replace_between

    begin, end = block_markers(run)
    return replace_between(document, table, source, begin, end)


COMMENT = "# compute plan: "


def replace_comment(text: str, line: str, source) -> str:
    """A config's text with its ``# compute plan:`` line set to ``line``."""
    lines = text.split("\n")
    found = [i for i, ln in enumerate(lines) if ln.startswith(COMMENT)]
    if len(found) != 1:
        raise InputError(f"{source}: needs exactly one line starting with {COMMENT.strip()!r}")
    lines[found[0]] = f"# {line}"
    return "\n".join(lines)
