"""What separates the AlphaRL variants, measured on a finished run (not a test).

    PYTHONPATH=src python workflow/scripts/alpharl_variants.py --run results/toy

For each window fraction, on the run's rank-1 series and checkpoint accuracies:
- the largest difference in ΔŴ = û v1ᵀ between the pipeline's prediction (signs aligned over
  the window alone) and the same fit with signs aligned over the whole run, backward (the
  released code) or forward: sign alignment is chained, so this should be 0;
- how much the official-code prediction depends on the level of its accuracy signal: the
  median over modules of ‖û‖ / σ1(window end) with the signal as it is and scaled by 0.6
  (its target y* = 1.7 is in raw-accuracy units);
- how much the paper prediction moves when the final accuracy (its normaliser) moves by 5 %.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rldynamics.alpharl.predict import predict_updates
from rldynamics.core.variants import VARIANTS
from rldynamics.core.windows import window_steps
from rldynamics.dynamics.trajectories import aligned_trajectories, fit_linear, load_series_file
from rldynamics.evaluate.summary import checkpoint_accuracy


def whole_run_prediction(series, variant, window, y, target, alignment):
    """The fit on the window's rows of trajectories aligned over the whole run."""
    rows = [series.steps.index(s) for s in window]
    out = {}
    for module, (X, V) in aligned_trajectories(
        series, VARIANTS[variant]["form"], alignment
    ).items():
        fit = fit_linear(X[rows].double().numpy(), y, module)
        out[module] = torch.outer(torch.from_numpy(fit.predict_x(target)), V[rows[-1]].double())
    return out


def products(updates):
    return {m: torch.outer(u.double(), v.double()) for m, (u, v) in updates.items()}


def largest_difference(left, right) -> float:
    return max(float((left[m] - right[m]).abs().max()) for m in left)


def median_norm_ratio(series, updates, end_step) -> float:
    row = series.steps.index(end_step)
    ratios = [
        float(torch.linalg.norm(u)) / float(series.S1[m][row]) for m, (u, _) in updates.items()
    ]
    return float(np.median(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a finished run's folder, results/<run>")
    parser.add_argument(
        "--metric",
        action="append",
        help="BENCHMARK=METRIC of the signal (default: every benchmark's acc)",
    )
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--official-target", type=float, default=1.7)
    args = parser.parse_args()
    run = Path(args.run)
    series = load_series_file(run / "dynamics/rank1_series.safetensors")
    results = pd.read_csv(run / "tables/checkpoint_results.csv", dtype={"k": str})
    metrics = dict(pair.split("=", 1) for pair in args.metric or [])
    metrics = metrics or {b: "acc" for b in sorted(set(results["benchmark"]))}
    accuracy = checkpoint_accuracy(results, metrics)
    last = max(series.steps)
    print(f"run {run}: {len(series.steps)} checkpoints, {len(series.U1)} modules, signal {metrics}")
    for fraction in args.fractions:
        try:
            window = window_steps(series.steps, fraction)
        except Exception as err:  # a window of one checkpoint: say so and go on
            print(f"window {fraction:g}: {err}")
            continue
        y = np.array([accuracy[s] for s in window])
        line = [f"window {fraction:g} (steps {window[0]}-{window[-1]})"]
        for variant, target, signal in [
            ("paper", 1.0, y / accuracy[last]),
            ("official-code", args.official_target, y),
        ]:
            ours = products(predict_updates(series, variant, window, accuracy, target)[0])
            for alignment in ("backward", "forward"):
                whole = whole_run_prediction(series, variant, window, signal, target, alignment)
                line.append(
                    f"{variant} vs whole-run {alignment}: max |ΔŴ diff| "
                    f"{largest_difference(ours, whole):.3g}"
                )
        plain, _ = predict_updates(series, "official-code", window, accuracy, args.official_target)
        scaled_accuracy = {s: 0.6 * a for s, a in accuracy.items()}
        scaled, _ = predict_updates(
            series, "official-code", window, scaled_accuracy, args.official_target
        )
        line.append(
            "official-code ‖û‖/σ1(end), median: "
            f"{median_norm_ratio(series, plain, window[-1]):.3g} with the signal, "
            f"{median_norm_ratio(series, scaled, window[-1]):.3g} with 0.6 × the signal"
        )
        paper, _ = predict_updates(series, "paper", window, accuracy, 1.0)
        moved_final = {**accuracy, last: 1.05 * accuracy[last]}
        moved, _ = predict_updates(series, "paper", window, moved_final, 1.0)
        change = max(
            float(torch.linalg.norm(moved[m][0] - paper[m][0]) / torch.linalg.norm(paper[m][0]))
            for m in paper
        )
        line.append(f"paper û when the final accuracy moves by 5 %: up to {change:.3g} relative")
        print("\n  ".join(line))


if __name__ == "__main__":
    main()
