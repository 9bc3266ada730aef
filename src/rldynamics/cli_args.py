"""Argument readers shared by the stage command lines (no stage imports: no circle)."""

from __future__ import annotations

from rldynamics.errors import InputError


def parse_metrics(pairs: list[str]) -> dict[str, str]:
    """``BENCH=METRIC`` pairs → {benchmark: primary metric}."""
    out = {}
    for pair in pairs:
        bench, sep, metric = pair.partition("=")
        if not sep or not bench or not metric:
            raise InputError(f"--metric wants BENCHMARK=METRIC, got {pair!r}")
        out[bench] = metric
    return out
