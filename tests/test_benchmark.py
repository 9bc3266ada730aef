"""The decomposition benchmark script runs end to end (on tiny shapes: the figures are the
script's job, not this test's)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_script_runs_and_reports_every_phase(tmp_path):
    script = ROOT / "workflow" / "scripts" / "benchmark_decompose.py"
    cmd = [sys.executable, str(script), "--preset", "smoke", "--repeat", "1", "--metrics"]
    cmd += ["--workdir", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    for phase in ("(a) floor", "(b) this project's decomposition", "(c) full SVD", "(d) Krylov"):
        assert phase in out, out
    assert "bound: floor + products" in out
    # q/o and MLP matrices (short side 256) take the Krylov path; k/v (64) the exact SVD.
    assert "'randomized': 10" in out and "'exact': 4" in out, out
    assert "matrices outside 1e-4 / 0.9999: 0" in out, out
    assert (tmp_path / "factors.safetensors").exists()
    for phase in ("(e) base metrics", "(f) decompose + metrics", "(g) today's metrics"):
        assert phase in out, out
    assert "ran on the first 1 of 2 layers" in out, out
    # the metrics of the fast path against today's on layer 0: counts equal, angles within
    assert "counts (sparsity, mask overlaps) equal 21 of 21" in out, out
    assert "outside tolerance 0;" in out, out
