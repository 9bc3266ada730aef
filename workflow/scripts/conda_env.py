"""Write envs/rldynamics.yaml (the rules' conda environment) from requirements.lock.

    python workflow/scripts/conda_env.py          # rewrite envs/rldynamics.yaml
    python workflow/scripts/conda_env.py --check  # exit 1 if it is out of step

Snakemake copies an environment file into .snakemake/conda/ before creating it, so the file
cannot point at the lock with a relative `-r`: it lists the lock's pins itself, and
tests/test_envs.py keeps the two equal. The package itself is not installed there: the
rules' `rldynamics` command falls back to workflow/bin/rldynamics, which runs src/.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
ENV = REPO / "envs/rldynamics.yaml"


def python_version(lock_text: str) -> str:
    match = re.search(r"Python (\d+\.\d+)", lock_text)
    if not match:
        sys.exit(f"{LOCK}: the header names no Python version ('Python X.Y')")
    return match.group(1)


def render(lock_text: str) -> str:
    pins = [line for line in lock_text.splitlines() if line and not line.startswith("#")]
    lines = [
        "# Software environment of every rule, for `snakemake --sdm conda`. Written by",
        "# workflow/scripts/conda_env.py from requirements.lock; tests/test_envs.py keeps the",
        "# two in step. On a GPU cluster pip takes the CUDA build of the pinned torch.",
        "name: rldynamics",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python_version(lock_text)}",
        "  - pip",
        "  - pip:",
        *(f"      - {pin}" for pin in pins),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    wanted = render(LOCK.read_text())
    if args.check:
        if ENV.read_text() != wanted:
            sys.exit(f"{ENV} is out of step with {LOCK}: run workflow/scripts/conda_env.py")
        return
    ENV.write_text(wanted)
    print(f"{ENV} written from {LOCK}")


if __name__ == "__main__":
    main()
