"""README command 1's run phase (and optionally the suite) of two commits, side by side in one
run on this machine (not a test).

Each commit is cloned fresh into a temporary folder (with ../shared beside it, as CI lays it
out) and run with its own src/ first on PYTHONPATH, so the installed package does not decide
which code runs. The commits alternate (before, after, after, before … with --rounds 2) so that
a drift in the machine's load falls on both. It prints the wall seconds of each, the ratio
after/before, and whether the run's tables are byte-identical between the two commits.

    python workflow/scripts/benchmark_speed.py --before HEAD~3 --after HEAD
    python workflow/scripts/benchmark_speed.py --before HEAD~3 --after HEAD --suite
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def clone(commit: str, root: Path) -> Path:
    """A fresh clone of ``commit`` at root/repo, with root/shared pointing at ../shared."""
    repo = root / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", commit], check=True)
    shared = REPO.parent / "shared"
    if shared.exists():
        (root / "shared").symlink_to(shared)
    return repo


def timed(cmd: list[str], repo: Path, log: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(repo / "src"))
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)} in {repo}; see {log}")
    return seconds


def same_content(left: Path, right: Path) -> bool:
    """Byte-identical files; for .gz, identical once decompressed (gzip stamps a time)."""
    if left.suffix == ".gz":
        return gzip.decompress(left.read_bytes()) == gzip.decompress(right.read_bytes())
    return filecmp.cmp(left, right, shallow=False)


def same_tables(left: Path, right: Path) -> dict[str, bool]:
    """{table: identical} over the tables of the default run (results/toy/tables)."""
    tables = "results/toy/tables"
    names = sorted(p.name for p in (left / tables).glob("*"))
    return {
        name: same_content(left / tables / name, right / tables / name)
        for name in names
        if (right / tables / name).exists()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--after", default="HEAD", help="the later commit (default HEAD)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each commit")
    parser.add_argument("--suite", action="store_true", help="also time python -m pytest -q")
    parser.add_argument("--keep", help="keep the clones in this folder (default: a temp one)")
    args = parser.parse_args()

    base = Path(args.keep or tempfile.mkdtemp(prefix="rldynamics-speed-"))
    commits = {"before": args.before, "after": args.after}
    order = ["before", "after"]
    walls: dict[str, dict[str, list[float]]] = {"run": {}, "suite": {}}
    repos = {}
    for round_ in range(args.rounds):
        for name in order if round_ % 2 == 0 else order[::-1]:
            root = base / f"{name}-{round_}"
            root.mkdir(parents=True)
            repo = repos[name] = clone(commits[name], root)
            seconds = timed(["snakemake"], repo, root / "run.log")
            walls["run"].setdefault(name, []).append(seconds)
            print(f"{name} ({commits[name]}) run phase, round {round_ + 1}: {seconds:.0f} s")
            if args.suite:
                seconds = timed([sys.executable, "-m", "pytest", "-q"], repo, root / "suite.log")
                walls["suite"].setdefault(name, []).append(seconds)
                print(f"{name} ({commits[name]}) suite, round {round_ + 1}: {seconds:.0f} s")
    for what, by_commit in walls.items():
        if by_commit:
            before = statistics.median(by_commit["before"])
            after = statistics.median(by_commit["after"])
            print(
                f"{what}: before {before:.0f} s, after {after:.0f} s, "
                f"after/before {after / before:.2f} (median of {args.rounds})"
            )
    tables = same_tables(repos["before"], repos["after"])
    for name, same in tables.items():
        print(f"results/toy/tables/{name}: {'identical' if same else 'DIFFERS'}")
    print(f"clones and logs in {base}")


if __name__ == "__main__":
    main()
