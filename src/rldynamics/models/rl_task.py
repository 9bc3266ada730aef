"""The verifiable task of a real base's RL run: small additions asked in words.

Operand pairs (a, b) with 0 ≤ a, b ≤ ``operand_max`` are drawn without replacement
(:func:`sample_pairs`, which the toy task draws with too), so the train and held-out test
items share no pair. Each question is the
configured prompt with ``{a}`` and ``{b}`` filled in; the answer is the sum, graded by the
project's math grader (``rldynamics.core.grading``, form ``boxed``: a box or an answer statement
such as "The answer is 17"), never by a first-line match. A task's items travel as JSONL
(:func:`write_items`, :func:`read_items`), the toy world's too.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from rldynamics.core.errors import InputError
from rldynamics.core.io import atomic_path, read_jsonl


def sample_pairs(top: int, n: int, seed: int) -> list[tuple[int, int]]:
    """``n`` distinct operand pairs (a, b), each in [0, top), drawn without replacement."""
    rng = random.Random(seed)
    return [(code // top, code % top) for code in rng.sample(range(top * top), n)]


DEFAULT_PROMPT = "What is {a} + {b}? Start your reply with: The answer is"


def addition_splits(
    operand_max: int, n_train: int, n_test: int, seed: int, prompt: str = DEFAULT_PROMPT
) -> tuple[list[dict], list[dict]]:
    """Disjoint train and held-out test items {question, answer, a, b}."""
    if operand_max < 1:
        raise InputError(f"rl.task.operand_max must be ≥ 1, got {operand_max}")
    if "{a}" not in prompt or "{b}" not in prompt:
        raise InputError(f"rl.task.prompt must contain {{a}} and {{b}}, got {prompt!r}")
    top = operand_max + 1
    if n_train + n_test > top * top:
        raise InputError(
            f"rl.task: n_train + n_test = {n_train + n_test} exceeds the {top * top} distinct "
            f"pairs of operands 0..{operand_max}"
        )
    items = [
        {"question": prompt.replace("{a}", str(a)).replace("{b}", str(b)), "answer": str(a + b)}
        | {"a": a, "b": b}
        for a, b in sample_pairs(top, n_train + n_test, seed)
    ]
    return items[:n_train], items[n_train:]


# --- a task's items on disk: one JSON object a line, each with a question and an answer ---


def write_items(path: str | Path, items: list[dict]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(item) + "\n" for item in items))


def read_items(path: str | Path) -> list[dict]:
    """The task's items; each needs a question and an answer."""
    items = []
    for lineno, item in read_jsonl(path):
        for field in ("question", "answer"):
            if field not in item:
                raise InputError(f"{path}:{lineno}: missing field {field!r}")
        items.append(item)
    return items
