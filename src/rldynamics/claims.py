"""The papers' headline claims, checked against this run with intervals (see ``stats``)."""

from __future__ import annotations

import pandas as pd

from rldynamics.errors import InputError
from rldynamics.grading import GRADER_VERSION
from rldynamics.items import ITEM_COLUMNS


def gather_items(paths) -> pd.DataFrame:
    """The per-item verdicts of every scoring job, checked for one grader version."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path, dtype={"k": str, "variant": str, "doc_hash": str})
        missing = set(ITEM_COLUMNS) - set(frame.columns)
        if missing:
            raise InputError(f"{path}: item verdicts lack columns {sorted(missing)}")
        frames.append(frame[ITEM_COLUMNS])
    table = pd.concat(frames, ignore_index=True)
    graders = sorted(table["grader"].dropna().astype(str).unique())
    if len(graders) > 1:
        raise InputError(
            f"item verdicts were graded by different grader versions {graders} "
            f"(this grader is {GRADER_VERSION}): run `rldynamics rescore` on the old ones"
        )
    return table
