"""Spread over training runs: the whole run once per seed, and the claims side by side.

A bootstrap over items says how much a number moves with the benchmark's items; it does not
say how much it moves when the run itself is redone (warm-up, RL sampling, float kernels).
Multi-seed mode reruns everything per seed, as run ``<run>-seed<N>`` (the run's own seed is
the run itself, whose results are reused), and merges the claims
tables into one (``merge_claims``) in which each claim carries, beside the interval over
items, the spread over seeds:

- ``value``: the mean over seeds; ``ci_low``/``ci_high``: the mean of the seeds' bounds of
  the interval over items (the typical interval of one run, centred as they are);
- ``seed_min``/``seed_max``/``seed_sd``/``seed_values``: the seeds' own values;
- the verdict is read off the union of the two intervals, and ``basis`` says which one set
  it: ``seeds`` where the seeds spread beyond the interval over items on either side,
  ``items`` otherwise (``matrices`` for numbers over matrices).

The README's results table of a merged claims table is :mod:`rldynamics.claims.readme_table`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from rldynamics.claims.derived import CLAIM_COLUMNS, verdict
from rldynamics.core.errors import InputError

log = logging.getLogger(__name__)

SEED_COLUMNS = ["seeds", "seed_values", "seed_min", "seed_max", "seed_sd"]


def seed_run(run: str, seed: int, own_seed: int | None = None) -> str:
    """The run name of a seed: the run itself at its own seed (its results are reused)."""
    return run if seed == own_seed else f"{run}-seed{seed}"


def seed_configs(config: dict, seeds: list[int], folder: Path) -> list[Path]:
    """One config file per seed: the same run with its seed and its own run name."""
    if len(set(seeds)) < 2:
        raise InputError(f"multi-seed mode needs at least two different seeds, got {seeds}")
    paths = []
    for seed in seeds:
        run = seed_run(config["run"], seed, config.get("seed"))
        derived = {**config, "run": run, "seed": int(seed)}
        derived["claims"] = {**(config.get("claims") or {}), "seeds": []}
        path = folder / f"seed-{seed}.yaml"  # the same config as the run's own at its seed
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(derived, sort_keys=False))
        paths.append(path)
    return paths


def run_seeds(configfile: Path, seeds: list[int] | None, cores: int, extra: list[str]) -> Path:
    """Run the whole workflow once per seed (snakemake, one after another), then merge."""
    config = yaml.safe_load(Path(configfile).read_text())
    if not isinstance(config, dict) or "run" not in config:
        raise InputError(f"{configfile}: not a run config (no 'run' key)")
    seeds = list(seeds or (config.get("claims") or {}).get("seeds") or [])
    folder = Path("results") / f"{config['run']}-seeds"
    paths = seed_configs(config, seeds, folder)
    from rldynamics.forecast.folder import snakemake_command

    for seed, path in zip(seeds, paths):
        log.info("seed %s: snakemake --configfile %s", seed, path)
        cmd = snakemake_command("--configfile", path, "--cores", cores, *extra)
        proc = subprocess.run(cmd, env=dict(os.environ))
        if proc.returncode:
            logs = f"results/{seed_run(config['run'], seed, config.get('seed'))}/logs"
            raise InputError(
                f"the run of seed {seed} failed (snakemake exit {proc.returncode}); "
                f"its config is {path}, its logs under {logs}"
            )
    runs = [seed_run(config["run"], s, config.get("seed")) for s in seeds]
    tables = [Path("results") / run / "tables/claims.csv" for run in runs]
    merged = merge_claims([pd.read_csv(t) for t in tables], seeds, f"{config['run']}-seeds")
    out = folder / "claims.csv"
    from rldynamics.core.io import write_csv

    write_csv(out, merged)
    log.info("claims over %d seeds → %s", len(seeds), out)
    backtests = [Path("results") / run / "tables/backtest.csv" for run in runs]
    if all(path.exists() for path in backtests):  # runs with a trajectory
        from rldynamics.forecast.line import coverage

        pooled = merge_backtests([pd.read_csv(path) for path in backtests], seeds)
        write_csv(folder / "backtest.csv", pooled)
        covered, total = coverage(pooled)
        log.info(
            "backtest over %d seeds: the 95 %% interval held the realized accuracy in %d of "
            "%d forecasts → %s",
            len(seeds),
            covered,
            total,
            folder / "backtest.csv",
        )
    return out


def merge_backtests(tables: list[pd.DataFrame], seeds: list[int]) -> pd.DataFrame:
    """The seeds' backtests in one table, a ``seed`` column first."""
    if len(tables) != len(seeds):
        raise InputError(f"{len(tables)} backtest tables for {len(seeds)} seeds")
    return pd.concat(
        [table.assign(seed=seed) for table, seed in zip(tables, seeds)], ignore_index=True
    )[["seed", *tables[0].columns]]


def merge_claims(tables: list[pd.DataFrame], seeds: list[int], run: str) -> pd.DataFrame:
    """One claims table from the seeds' tables (see the module's docstring)."""
    if len(tables) != len(seeds) or len(tables) < 2:
        raise InputError("merging claims needs one table per seed, two seeds at least")
    keyed = []
    for seed, table in zip(seeds, tables):
        missing = set(CLAIM_COLUMNS) - set(table.columns)
        if missing:
            raise InputError(f"the claims table of seed {seed} lacks {sorted(missing)}")
        keyed.append(table.assign(seed=seed, variant=table["variant"].fillna("")))
    both = pd.concat(keyed, ignore_index=True)
    out = []
    for (_claim, variant), group in both.groupby(["claim_id", "variant"], sort=False):
        first = group.iloc[0]
        values = group["value"].astype(float).to_numpy()
        row = {c: first[c] for c in CLAIM_COLUMNS}
        row.update(run=run, variant=variant or None)
        finite = values[np.isfinite(values)]
        row["value"] = float(finite.mean()) if len(finite) else float("nan")
        row["ci_low"] = float(group["ci_low"].astype(float).mean())
        row["ci_high"] = float(group["ci_high"].astype(float).mean())
        row["seeds"] = " ".join(str(s) for s in group["seed"])
        row["seed_values"] = "; ".join(f"{v:.4g}" for v in values)
        row["seed_min"] = float(finite.min()) if len(finite) else float("nan")
        row["seed_max"] = float(finite.max()) if len(finite) else float("nan")
        row["seed_sd"] = float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")
        if first["verdict"] != "not applicable" and pd.notna(first["paper_value"]):
            low = np.nanmin([row["ci_low"], row["seed_min"]])
            high = np.nanmax([row["ci_high"], row["seed_max"]])
            row["verdict"] = verdict(
                first["comparison"], float(first["paper_value"]), float(first["margin"]), low, high
            )
            wider = row["seed_min"] < row["ci_low"] or row["seed_max"] > row["ci_high"]
            row["basis"] = "seeds" if wider else first["basis"]
        else:
            row["verdict"] = "not applicable"
        out.append(row)
    return pd.DataFrame(out, columns=[*CLAIM_COLUMNS, *SEED_COLUMNS])


# --- the README's results table ----------------------------------------------------------------
