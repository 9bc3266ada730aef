"""The figures: each reads only the tidy tables and writes a PNG and a PDF."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rldynamics.core.errors import InputError  # noqa: E402
from rldynamics.core.io import save_figure as _save  # noqa: E402
from rldynamics.evaluate.summary import average_accuracy, rank_k_rows  # noqa: E402


def accuracy_vs_step(
    table: pd.DataFrame, metrics: dict[str, str], stem, run: str, lam: float = 1.0
) -> None:
    """RL checkpoints' average accuracy against step, with each checkpoint's rank-1 model."""
    avg = average_accuracy(table, metrics)
    fig, ax = plt.subplots(figsize=(6, 4))
    ckpt = avg[avg["model_kind"] == "checkpoint"].sort_values("step")
    rank1 = rank_k_rows(avg, lam)
    rank1 = rank1[rank1["k"].astype(str) == "1"]
    rank1 = rank1.sort_values("step")
    base = avg[avg["model_kind"] == "base"]["value"]
    if len(base):
        ax.axhline(float(base.iloc[0]), color="grey", ls=":", label="base model")
    ax.plot(ckpt["step"], ckpt["value"], "o-", label="RL checkpoint")
    ax.plot(rank1["step"], rank1["value"], "s--", label="rank-1 of that checkpoint")
    ax.set_xlabel("RL step")
    ax.set_ylabel("accuracy (mean over benchmarks)")
    ax.set_title(f"{run}: accuracy over RL training")
    ax.set_ylim(0, 1)
    ax.legend()
    _save(fig, stem)


def recovery_vs_k(recovery: pd.DataFrame, stem, run: str) -> None:
    """Share of the RL gain recovered by the rank-k model, per benchmark and averaged."""
    fig, ax = plt.subplots(figsize=(6, 4))
    order = sorted(recovery["k"].astype(str).unique(), key=_rank_order)
    for benchmark, group in recovery.groupby("benchmark"):
        values = group.set_index(group["k"].astype(str))["recovery"].reindex(order)
        ax.plot(
            order, values.values, "o-", label=benchmark, lw=2.5 if benchmark == "average" else 1
        )
    ax.axhline(1.0, color="grey", ls=":")
    ax.set_xlabel("rank k of the update")
    ax.set_ylabel("recovered share of the RL gain")
    ax.set_title(f"{run}: rank-k recovery")
    ax.legend()
    _save(fig, stem)


def _rank_order(k: str):
    """Integers first, then percentages, then 'full'."""
    if k.isdigit():
        return (0, int(k))
    if k == "full":
        return (2, 0)
    return (1, float(k.rstrip("%").removesuffix("pct") or 0))


def r2_histogram(
    linearity: pd.DataFrame,
    control: pd.DataFrame,
    stem,
    run: str,
    form: str = "fro-u1",
    alignment: str = "backward",
) -> None:
    """In-sample and held-out PLS R² over modules, against the shuffled-accuracy control."""
    from rldynamics.core.variants import check_form

    check_form(form, "the R² figure's trajectory form")
    table = linearity[(linearity["form"] == form) & (linearity["alignment"] == alignment)]
    if table.empty:
        raise InputError(f"the linearity table has no rows of form {form!r}, {alignment!r} signs")
    ctrl = control[(control["form"] == form) & (control["alignment"] == alignment)]
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(-1, 1, 41)
    ax.hist(
        ctrl["r2"].dropna().clip(-1, 1),
        bins=bins,
        density=True,
        color="lightgrey",
        label=f"control: accuracy shuffled ({int(table['control_draws'].iloc[0])} draws)",
    )
    ax.hist(
        table["r2"].dropna(),
        bins=bins,
        density=True,
        histtype="step",
        lw=2,
        label=f"in-sample (median {table['r2'].median():.3f})",
    )
    held = table["r2_heldout"].dropna().clip(-1, 1)
    if len(held):
        ax.hist(
            held,
            bins=bins,
            density=True,
            histtype="step",
            lw=2,
            ls="--",
            label=f"held-out, later steps (median {table['r2_heldout'].median():.3f})",
        )
    ax.set_xlabel("R² of accuracy on the rank-1 trajectory (clipped to [-1, 1])")
    ax.set_ylabel("density over modules")
    ax.set_title(
        f"{run}: linearity, {form} trajectory, {alignment} signs "
        f"({int(table['T'].iloc[0])} checkpoints)"
    )
    ax.legend(fontsize=7)
    _save(fig, stem)


def alpharl_windows(alpharl: pd.DataFrame, stem, run: str) -> None:
    """Each method's accuracy against window, beside the window-end and final ones; the legend
    names the accuracy signal each fit read and the dtype of the model scored."""
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for (method, variant), group in alpharl.groupby(["method", "variant"]):
        group = group.sort_values("window_fraction")
        signals = ", ".join(sorted(set(group["signal"].astype(str))))
        dtypes = ", ".join(sorted(set(group["model_dtype"].astype(str))))
        if method == "alpharl":
            label = f"AlphaRL {variant} (fit: {signals}; {dtypes})"
        else:
            label = f"baseline: {variant} (line in the step; {dtypes})"
        ax.plot(100 * group["window_fraction"], group["prediction"], "o-", label=label)
    ends = alpharl.drop_duplicates("window").sort_values("window_fraction")
    ax.plot(
        100 * ends["window_fraction"],
        ends["window_checkpoint"],
        "ks--",
        label="checkpoint at window end",
    )
    final = alpharl["full_run"].iloc[0]
    ax.axhline(final, color="k", ls=":", label="final checkpoint")
    ax.axhline(0.96 * final, color="grey", ls=":", lw=0.8, label="96 % of final")
    ax.axhline(alpharl["base"].iloc[0], color="grey", ls="-.", label="base model")
    ticks = [
        (100 * f, f"{100 * f:.0f}" if str(w).replace(".", "").isdigit() else f"{w}\n(to {s})")
        for w, f, s in zip(ends["window"], ends["window_fraction"], ends["window_last_step"])
    ]
    ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks])
    ax.set_xlabel("window (% of RL steps; a named window: its label and last step)")
    ax.set_ylabel("accuracy (mean over benchmarks)")
    ax.set_title(f"{run}: extrapolation from an early window")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=6)
    _save(fig, stem)


def lambda_sweep(table: pd.DataFrame, metrics: dict[str, str], stem, run: str) -> None:
    """Accuracy of the rank-1 model of the final checkpoint against the factor λ."""
    avg = average_accuracy(table, metrics)
    final_step = avg[avg["model_kind"] == "checkpoint"]["step"].max()
    sweep = avg[
        (avg["model_kind"] == "rank-k")
        & (avg["k"].astype(str) == "1")
        & (avg["step"] == final_step)
    ].sort_values("lam")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(sweep["lam"], sweep["value"], "o-", label=f"rank-1 of step {final_step}")
    final = avg[(avg["model_kind"] == "checkpoint") & (avg["step"] == final_step)]["value"]
    ax.axhline(float(final.iloc[0]), color="k", ls=":", label="final checkpoint")
    base = avg[avg["model_kind"] == "base"]["value"]
    if len(base):
        ax.axhline(float(base.iloc[0]), color="grey", ls="-.", label="base model")
    ax.set_xlabel("λ (W0 + λ·‖ΔW‖F·u1v1ᵀ)")
    ax.set_ylabel("accuracy (mean over benchmarks)")
    ax.set_title(f"{run}: λ sweep of the rank-1 model")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    _save(fig, stem)


def _largest_modules(series, count: int) -> list[str]:
    return sorted(series.fro, key=lambda m: -float(series.fro[m][-1]))[:count]


def trajectories(series, accuracy: dict[int, float], stem, run: str, count: int = 4) -> None:
    """First PLS score of a few modules' trajectories against step, with the accuracy."""
    from rldynamics.dynamics.trajectories import aligned_trajectories, fit_linear

    steps = series.steps
    y = np.array([accuracy[s] for s in steps])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    aligned = aligned_trajectories(series, "fro-u1", "backward")
    for module in _largest_modules(series, count):
        X = aligned[module][0].double().numpy()
        if np.ptp(y) == 0:
            break
        z = fit_linear(X, y, module).pls.transform(X)[:, 0]
        ax.plot(
            steps,
            (z - z.mean()) / (z.std() or 1),
            "-",
            lw=1.2,
            label=module.removeprefix("model.").removesuffix(".weight"),
        )
    ax.plot(steps, (y - y.mean()) / (y.std() or 1), "k--", lw=2, label="accuracy")
    ax.set_xlabel("RL step")
    ax.set_ylabel("standardized value")
    ax.set_title(f"{run}: rank-1 trajectories ‖ΔW‖F·u1 (first PLS score) of the largest updates")
    ax.legend(fontsize=7)
    _save(fig, stem)


def tsne(
    series, stem, run: str, count: int = 4, form: str = "fro-u1", pca_components: int = 50
) -> None:
    """t-SNE of the rank-1 trajectories of a few modules, coloured by step (AlphaRL's figure).

    StandardScaler → PCA (at most ``pca_components``) → TSNE(2, perplexity clamp(T//3, 5, 30),
    init "pca", seed 42). The paper's text: 50 components; the released code (its
    visualize_rank1_u_tsne): u1 alone and 2 components.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    from rldynamics.core.variants import check_form
    from rldynamics.dynamics.trajectories import aligned_trajectories

    check_form(form, "the t-SNE figure's trajectory form")
    modules = _largest_modules(series, count)
    aligned = aligned_trajectories(series, form, "backward")
    T = len(series.steps)
    fig, axes = plt.subplots(1, len(modules), figsize=(3.2 * len(modules), 3.2), squeeze=False)
    for ax, module in zip(axes[0], modules):
        X = StandardScaler().fit_transform(aligned[module][0].double().numpy())
        components = min(pca_components, T - 1, X.shape[1])
        X = PCA(n_components=components, random_state=42).fit_transform(X)
        perplexity = float(min(max(T // 3, 5), 30, T - 1))
        emb = TSNE(2, perplexity=perplexity, init="pca", random_state=42).fit_transform(X)
        points = ax.scatter(emb[:, 0], emb[:, 1], c=series.steps, cmap="viridis", s=18)
        ax.plot(emb[:, 0], emb[:, 1], color="grey", lw=0.5)
        ax.set_title(module.removeprefix("model.").removesuffix(".weight"), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(points, ax=axes[0].tolist(), label="RL step")
    fig.suptitle(
        f"{run}: t-SNE of rank-1 trajectories, form {form}, PCA to {pca_components}",
        fontsize=10,
    )
    _save(fig, stem)


def backtest_figure(table: pd.DataFrame, curves: dict[str, dict[int, float]], stem) -> None:
    """Per run: the realized accuracy curve, and from each window's end the forecast of the
    last step with its 95 % prediction interval, against the accuracy the run reached."""
    runs = list(curves)
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4), squeeze=False)
    for ax, run in zip(axes[0], runs):
        curve = curves[run]
        steps = sorted(curve)
        ax.plot(steps, [curve[s] for s in steps], "k.-", lw=0.8, label="realized (checkpoints)")
        rows = table[table["run"] == run].sort_values("window_last_step")
        below, above = rows["value"] - rows["low"], rows["high"] - rows["value"]
        ax.errorbar(
            rows["window_last_step"],
            rows["value"],
            yerr=[below, above],
            fmt="o",
            color="C0",
            capsize=3,
            label=f"forecast of step {max(steps)} from the window's end (95 % PI)",
        )
        ax.axhline(curve[max(steps)], color="C3", ls=":", label=f"reached at step {max(steps)}")
        inside = int(rows["covered"].sum())
        ax.set_title(f"{run}: {inside}/{len(rows)} intervals hold the realized accuracy")
        ax.set_xlabel("RL step (forecasts: where the run was stopped)")
        ax.set_ylabel("accuracy (mean over benchmarks)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=6, loc="lower right")
    _save(fig, stem)


def _lanes(jobs) -> list[int]:
    """A row per job such that jobs in one row never overlap (first free row, by start)."""
    ends: list[float] = []
    rows = []
    for job in jobs:
        row = next((i for i, end in enumerate(ends) if end <= job.start), len(ends))
        if row == len(ends):
            ends.append(job.end)
        ends[row] = job.end
        rows.append(row)
    return rows


def run_gantt(jobs, path, stem, run: str) -> None:
    """Every job of a finished run as a bar over time, coloured by rule; the observed
    critical path outlined (:mod:`rldynamics.runs.run_profile`)."""
    origin = min(j.start for j in jobs)
    rules = sorted({j.rule for j in jobs})
    colours = dict(zip(rules, plt.cm.tab20(np.linspace(0, 1, max(len(rules), 2)))))
    rows = _lanes(jobs)
    on_path = {j.name for j in path}
    fig, ax = plt.subplots(figsize=(9, max(3.2, 1.2 + 0.35 * (max(rows) + 1))))
    for job, row in zip(jobs, rows):
        critical = job.name in on_path
        ax.barh(
            row,
            job.wall,
            left=job.start - origin,
            color=colours[job.rule],
            edgecolor="black" if critical else "none",
            linewidth=1.2 if critical else 0,
        )
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[r]) for r in rules]
    ax.legend(handles, rules, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_xlabel("seconds since the first job began")
    ax.set_yticks([])
    ax.set_title(f"{run}: jobs over time (outlined: observed critical path)")
    _save(fig, stem)
