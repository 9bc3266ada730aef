"""A verifiable task: n-digit addition with one exact answer.

Besides the right answer, each item carries a systematic wrong one: the sum with every carry
dropped (digit-wise addition mod 10). The supervised warm-up mixes the two so that the base
model is partly right and RL has a real choice to reinforce.
"""

from __future__ import annotations

from rldynamics.core.errors import InputError
from rldynamics.models.rl_task import sample_pairs


def carry_dropped_sum(a: int, b: int) -> int:
    """Digit-wise sum mod 10, i.e. addition that forgets every carry."""
    result, place = 0, 1
    while a or b:
        result += ((a % 10 + b % 10) % 10) * place
        a, b, place = a // 10, b // 10, place * 10
    return result


def make_item(a: int, b: int) -> dict:
    return {
        "question": f"{a}+{b}=",
        "answer": str(a + b),
        "carry_dropped": str(carry_dropped_sum(a, b)),
    }


def generate_splits(digits: int, n_train: int, n_test: int, seed: int) -> tuple[list, list]:
    """Disjoint train and held-out test items, drawn without replacement from all pairs."""
    if digits < 1:
        raise InputError(f"toy.task.digits must be ≥ 1, got {digits}")
    top = 10**digits
    n_pairs = top * top
    if n_train + n_test > n_pairs:
        raise InputError(
            f"toy.task: n_train + n_test = {n_train + n_test} exceeds the {n_pairs} distinct "
            f"{digits}-digit pairs"
        )
    pairs = sample_pairs(top, n_train + n_test, seed)
    items = [make_item(a, b) for a, b in pairs]
    return items[:n_train], items[n_train:]
