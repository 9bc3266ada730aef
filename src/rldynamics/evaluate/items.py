"""Per-item verdicts and stored completions of a scoring job, and re-scoring from them.

Every evaluated model keeps, per benchmark item, how many samples were drawn and how many were
right (``ITEM_COLUMNS``), so that every derived number can be recomputed, with its interval,
from items rather than from averages (``rldynamics.core.stats``). The rows are the same for every
backend: they come from lm-eval's logged samples, whichever model produced the completions.

With ``evaluate.log_samples`` on, the completions themselves are stored (gzip-compressed JSON
lines, one record per model, benchmark and item, holding the item as the grader reads it and
the form it is read in). ``rescore`` grades them again with the grader in place, with no
generation: after a grader change, the accuracies and verdicts of a finished run are refreshed
in seconds.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from rldynamics.core.columns import ITEM_COLUMNS, MODEL_LABELS, RESULT_COLUMNS
from rldynamics.core.errors import InputError
from rldynamics.core.grading import GRADER_VERSION, pass_ks, score_item
from rldynamics.core.io import atomic_path, write_csv

log = logging.getLogger(__name__)


def _completions(sample: dict) -> list[str]:
    """The item's n completions (after lm-eval's take_first_k filter)."""
    resps = sample.get("filtered_resps") or []
    first = resps[0] if resps else []
    return [str(c) for c in (first if isinstance(first, list) else resps)]


def _prompt(sample: dict) -> str:
    """The prompt the model saw (lm-eval's first request argument)."""
    try:
        return str(sample["arguments"][0][0])
    except (KeyError, IndexError, TypeError):
        return ""


def item_rows(samples: dict, labels: dict) -> list[dict]:
    """Per-item verdict rows from lm-eval's ``samples`` ({task: [sample, …]})."""
    rows = []
    for benchmark, logged in samples.items():
        for sample in logged:
            if "acc" not in sample:
                raise InputError(
                    f"lm-eval's sample {sample.get('doc_id')} of {benchmark} has no 'acc': the "
                    "task's process_results hook must return avg@n as acc"
                )
            n = len(_completions(sample))
            rows.append(
                {
                    **labels,
                    "benchmark": benchmark,
                    "item": int(sample["doc_id"]),
                    "doc_hash": str(sample.get("doc_hash", ""))[:16],
                    "n_samples": n,
                    # acc is avg@n, an exact ratio of counts
                    "n_correct": int(round(float(sample["acc"]) * n)),
                    "grader": GRADER_VERSION,
                }
            )
    return rows


def item_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def completion_records(samples: dict, key: str, labels: dict, forms: dict[str, str]):
    """The stored form of each logged sample: the item, its form and its completions."""
    for benchmark, logged in samples.items():
        for sample in logged:
            doc = sample.get("doc") or {}
            yield {
                "key": key,
                **labels,
                "benchmark": benchmark,
                "item": int(sample["doc_id"]),
                "doc_hash": str(sample.get("doc_hash", ""))[:16],
                "form": forms.get(benchmark, "plain"),
                "answer": str(doc.get("answer", sample.get("target", ""))),
                "choices": list(doc.get("choices") or []),
                "question": str(doc.get("question", "")),
                "prompt": _prompt(sample),
                "completions": _completions(sample),
            }


class CompletionWriter:
    """Completions written as gzip JSON lines, renamed into place when the job succeeds."""

    def __init__(self, path: str | Path | None):
        self.path = path
        self._context = self._file = None

    def __enter__(self):
        if self.path is not None:
            self._context = atomic_path(self.path)
            tmp = self._context.__enter__()
            # mtime=0: the same completions give the same bytes
            self._file = gzip.GzipFile(tmp, "wb", mtime=0)
        return self

    def write(self, records) -> None:
        if self._file is None:
            return
        for record in records:
            self._file.write((json.dumps(record, ensure_ascii=False) + "\n").encode())

    def __exit__(self, *exc):
        if self._file is not None:
            self._file.close()
            return self._context.__exit__(*exc)
        return False


def read_completions(path: str | Path):
    """The records of a completions file, each checked for the fields re-scoring needs."""
    needed = ("benchmark", "item", "form", "answer", "completions")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                record = json.loads(line)
                missing = [f for f in needed if f not in record]
                if missing:
                    raise InputError(f"{path}:{lineno}: a completion record lacks {missing}")
                yield record
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a gzip JSON-lines completions file ({err})") from err


def accuracy_rows(items: pd.DataFrame, metric_values: pd.DataFrame) -> pd.DataFrame:
    """Results rows (``core.columns.RESULT_COLUMNS``) from per-item metric values: the mean over
    items, and its standard error as lm-eval states it (sample sd / √items)."""
    keys = ["run", *MODEL_LABELS, "benchmark", "metric"]
    grouped = metric_values.groupby(keys, dropna=False, sort=False)["value"]
    rows = grouped.agg(
        value="mean",
        n="size",
        stderr=lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0,
    ).reset_index()
    rows["grader"] = GRADER_VERSION
    return rows[RESULT_COLUMNS]


def rescore(completions: str | Path, out_csv: str | Path, out_items: str | Path):
    """Grade stored completions again with the grader in place; no model is loaded.

    Writes the results rows and the per-item verdicts of the same models, as a scoring job
    would have written them; returns (results, items).
    """
    verdicts, values = [], []
    for record in read_completions(completions):
        labels = {c: record.get(c) for c in ["run", *MODEL_LABELS]}
        outs = record["completions"]
        scores = score_item(
            outs, record["answer"], record["form"], pass_ks(len(outs)), record["choices"]
        )
        n = len(outs)
        verdicts.append(
            {
                **labels,
                "benchmark": record["benchmark"],
                "item": int(record["item"]),
                "doc_hash": record.get("doc_hash", ""),
                "n_samples": n,
                "n_correct": int(round(scores["acc"] * n)),
                "grader": GRADER_VERSION,
            }
        )
        for metric, value in scores.items():
            values.append(
                {**labels, "benchmark": record["benchmark"], "metric": metric, "value": value}
            )
    if not verdicts:
        raise InputError(f"{completions}: holds no completions to re-score")
    items = item_frame(verdicts)
    results = accuracy_rows(items, pd.DataFrame(values))
    write_csv(out_csv, results)
    write_csv(out_items, items)
    log.info("re-scored %d items of %s with grader %s", len(items), completions, GRADER_VERSION)
    return results, items
