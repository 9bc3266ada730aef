"""The models a run scores, each in its family, and how scoring jobs group them.

Plain Python with no heavy imports: the DAG (common.smk, read by every cluster job), the disk
plan and the compute plan all take the models of a run from here, so no second list can drift
from what the DAG scores.

A model key names one model: ``base``, ``checkpoint/step-N``, ``rank-K/step-N``,
``lam-L/step-N``, ``alpharl-VARIANT/window-P``, ``baseline/window-P``. A *family* says what a
model is, whatever the jobs: ``FAMILIES`` below. Every family has an evaluation budget
(``evaluate.budgets.<family>``: samples per item, benchmarks, an item limit); a scoring job
(chunk) holds models of one job group and one budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rldynamics.core.errors import InputError
from rldynamics.core.grading import pass_ks
from rldynamics.core.windows import window_label, window_steps, window_steps_to

# Family → what its models are. The order is the order of the plan's rows.
FAMILIES = {
    "base": "the base model W0",
    "final": "the final RL checkpoint",
    "window_ends": "the checkpoints that end an AlphaRL window",
    "trajectory": "the other evaluated checkpoints",
    "rank_k": "rank-k updates of the final step at the configured λ, every k",
    "lam_sweep": "the rank-1 update of the final step at the other λ of the sweep",
    "rank1_trajectory": "the rank-1 update of every other evaluated checkpoint",
    "alpharl": "AlphaRL predictions, every variant and window",
    "baseline": "the whole-weight extrapolation baseline, every window",
}
# The families whose scores make the checkpoint table that AlphaRL's signals read.
CHECKPOINT_FAMILIES = ("base", "final", "window_ends", "trajectory")


@dataclass
class RunModels:
    """The evaluated models of a run and what the DAG needs to name them."""

    steps: list[int]
    eval_steps: list[int]
    windows: dict  # label → (the window as configured, its checkpoint steps)
    family_of: dict[str, str] = field(default_factory=dict)  # model key → family
    groups: dict[str, list[str]] = field(default_factory=dict)  # job group → model keys

    @property
    def trajectory(self) -> bool:
        return len(self.eval_steps) >= 2

    def family(self, name: str) -> list[str]:
        return [key for key, fam in self.family_of.items() if fam == name]


def toy_steps(rl: dict) -> list[int]:
    """The toy RL run's checkpoint steps: every save_every and the last."""
    steps = list(range(rl["save_every"], rl["steps"] + 1, rl["save_every"]))
    return steps if steps[-1:] == [rl["steps"]] else steps + [rl["steps"]]


def planned_steps(config: dict) -> list[int]:
    """The checkpoint steps a config will collect, known without reading anything."""
    if config["checkpoints"]["source"] == "toy":
        return toy_steps(config["toy"]["rl"])
    if config["checkpoints"]["source"] == "rl":
        return toy_steps(config["rl"])
    steps = config["checkpoints"]["steps"]
    if not steps:
        raise InputError(
            "config: checkpoints.steps is not set; list the steps to plan a run from a local "
            "folder (the plan reads nothing from disk)"
        )
    return list(steps)


def evaluated_steps(steps: list[int], stride: int) -> list[int]:
    """Every ``stride``-th checkpoint and the final one."""
    return sorted(set(steps[::stride]) | {steps[-1]})


def resolve_windows(windows: list, eval_steps: list[int]) -> dict:
    """{label: (window, steps)} of the configured AlphaRL windows, checked."""
    resolved = {}
    for window in windows:
        try:
            label = window_label(window)
            steps = (
                window_steps_to(eval_steps, window["end_step"])
                if isinstance(window, dict)
                else window_steps(eval_steps, window)
            )
        except InputError as err:
            raise InputError(f"alpharl.windows: {err}") from err
        if label in resolved:
            raise InputError(f"alpharl.windows: two windows are labelled {label!r}")
        same = [other for other, (_, seen) in resolved.items() if seen == steps]
        if same:
            raise InputError(
                f"alpharl.windows: windows {same[0]!r} and {label!r} hold the same checkpoints "
                f"(steps {steps[0]}-{steps[-1]}); keep one"
            )
        resolved[label] = (window, steps)
    return resolved


def run_models(config: dict, steps: list[int]) -> RunModels:
    """The models ``config`` (validated, defaults filled) scores over checkpoint ``steps``."""
    if not steps:
        raise InputError("the checkpoint series is empty")
    eval_steps = evaluated_steps(steps, config["evaluate"]["checkpoint_stride"])
    final = steps[-1]
    trajectory = len(eval_steps) >= 2
    alpharl = config["alpharl"]
    windows = resolve_windows(alpharl["windows"], eval_steps) if trajectory else {}
    window_ends = {steps_[-1] for _, steps_ in windows.values()}
    run = RunModels(list(steps), eval_steps, windows)

    def add(group, key, family):
        run.family_of[key] = family
        run.groups.setdefault(group, []).append(key)

    add("checkpoints", "base", "base")
    for s in eval_steps:
        family = "final" if s == final else "window_ends" if s in window_ends else "trajectory"
        add("checkpoints", f"checkpoint/step-{s}", family)
    rank_models = config["rank_models"]
    ranks = [str(k).replace("%", "pct") for k in rank_models["ranks"]]
    for k in ranks:
        add("rank-k", f"rank-{k}/step-{final}", "rank_k")
    for lam in (float(x) for x in rank_models["lam_sweep"]):
        # the rank-1 model at the configured λ is already among the rank-k models
        if not (lam == rank_models["lam"] and "1" in ranks):
            add("rank-k", f"lam-{lam:g}/step-{final}", "lam_sweep")
    if rank_models["rank1_every_checkpoint"]:
        for s in eval_steps:
            if s != final or "1" not in ranks:
                family = "rank_k" if s == final else "rank1_trajectory"
                add("rank-k", f"rank-1/step-{s}", family)
    for variant in alpharl["variants"] if trajectory else []:
        for label in windows:
            add(f"alpharl-{variant}", f"alpharl-{variant}/window-{label}", "alpharl")
    if alpharl["baseline"]:
        for label in windows:
            add("baseline", f"baseline/window-{label}", "baseline")
    return run


# --- budgets --------------------------------------------------------------------------------


def family_budget(config: dict, family: str) -> dict:
    """A family's budget with its defaults filled: {n, benchmarks, limit}.

    n: samples per item (``evaluate.generation.n`` unless set); benchmarks: the configured
    benchmarks it is scored on (all unless listed); limit: items per benchmark, a seeded
    subset the same for every model (all unless set; ``evaluate.limit`` caps it)."""
    own = (config["evaluate"].get("budgets") or {}).get(family) or {}
    names = own.get("benchmarks") or list(config["benchmarks"])
    unknown = [b for b in names if b not in config["benchmarks"]]
    if unknown:
        raise InputError(
            f"evaluate.budgets.{family}.benchmarks: {unknown} are not configured benchmarks "
            f"({sorted(config['benchmarks'])})"
        )
    return {
        "n": int(own.get("n") or config["evaluate"]["generation"]["n"]),
        # the key an error about n names: the family's own, or the run's
        "n_key": f"evaluate.budgets.{family}.n" if own.get("n") else "evaluate.generation.n",
        "benchmarks": [b for b in config["benchmarks"] if b in names],
        "limit": own.get("limit"),
    }


def check_budgets(config: dict, run: RunModels) -> dict[str, dict]:
    """{family: budget} of the families the run has, each checked against what it feeds:

    - a benchmark whose primary metric is pass@k is scored with n ≥ k by every family;
    - a family of the checkpoint table scores the benchmarks of every AlphaRL signal, with
      n ≥ k where the signal is pass@k.
    """
    present = {fam for fam in run.family_of.values()}
    budgets = {fam: family_budget(config, fam) for fam in FAMILIES if fam in present}
    for fam, budget in budgets.items():
        where = budget["n_key"]
        for name in budget["benchmarks"]:
            metric = config["benchmarks"][name]["metric"]
            if metric.startswith("pass@") and int(metric[5:]) not in pass_ks(budget["n"]):
                raise InputError(
                    f"{where} = {budget['n']}: benchmarks.{name}.metric is {metric}, which "
                    f"needs n ≥ {metric[5:]} (pass@k is reported for k in {pass_ks(budget['n'])})"
                )
        if fam not in CHECKPOINT_FAMILIES or not run.trajectory:
            continue
        for variant in config["alpharl"]["variants"]:
            signal = config["alpharl"]["signals"].get(variant)
            if signal is None:  # prospective reads no accuracy
                continue
            needed = signal.get("benchmarks") or list(config["benchmarks"])
            configured = [b for b in needed if b in config["benchmarks"]]
            missing = [b for b in configured if b not in budget["benchmarks"]]
            if missing:
                raise InputError(
                    f"evaluate.budgets.{fam}.benchmarks: the {fam} models feed "
                    f"alpharl.signals.{variant}, which reads {missing}; score them"
                )
            metric = signal.get("metric") or ""
            if metric.startswith("pass@") and int(metric[5:]) not in pass_ks(budget["n"]):
                raise InputError(
                    f"alpharl.signals.{variant}.metric: {metric} is not in the results table of "
                    f"the {fam} models, which holds acc and pass@k for k in "
                    f"{pass_ks(budget['n'])} ({where} = {budget['n']})"
                )
    return budgets


def budget_key(budget: dict) -> tuple:
    return (budget["n"], tuple(budget["benchmarks"]), budget["limit"])


def chunks(run: RunModels, budgets: dict[str, dict], models_per_job: int) -> dict:
    """{"<group>/chunk-<i>": model keys}: each job group's models split by budget (families
    with the same budget share jobs), at most ``models_per_job`` a job. With one budget for
    every family the chunks are the group's models in order, as before budgets existed."""
    out = {}
    for group, keys in run.groups.items():
        by_budget: dict[tuple, list[str]] = {}
        for key in keys:
            by_budget.setdefault(budget_key(budgets[run.family_of[key]]), []).append(key)
        i = 0
        for members in by_budget.values():
            for start in range(0, len(members), models_per_job):
                out[f"{group}/chunk-{i}"] = members[start : start + models_per_job]
                i += 1
    return out


def seeded_items(n_items: int, limit: int | None, seed: int) -> list[int]:
    """The items a limit of ``limit`` scores out of ``n_items``: the first ``limit`` of a
    permutation seeded by ``seed`` alone, in item order. Every model with the same limit gets
    the same items, and a smaller limit's items are among a larger one's."""
    import numpy as np

    if limit is None or limit >= n_items:
        return list(range(n_items))
    order = np.random.default_rng(seed).permutation(n_items)
    return sorted(int(i) for i in order[:limit])
