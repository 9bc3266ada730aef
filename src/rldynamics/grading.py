"""Answer extraction and grading of the papers' benchmarks (AlphaRL §8).

The answer of a completion is taken in the benchmark's format — the last ``\\boxed{}`` for
MATH-style and AIME items, the boxed or last number for GSM8K, a letter for multiple choice, the
first line for the toy task — and graded by mathematical equivalence with ``math-verify``.
Each item is sampled n times; the item scores are the mean accuracy (avg@n) and the unbiased
pass@k estimator 1 − C(n−c, k)/C(n, k).
"""

from __future__ import annotations

import hashlib
import random
import re
from math import comb

# The paper's instruction, appended to every question (AlphaRL released code).
BOXED_INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."
CHOICE_LETTERS = "ABCD"


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; else None."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        # "\boxed 5" without braces
        bare = re.findall(r"\\boxed\s+([^\s$]+)", text)
        return bare[-1] if bare else None
    start, depth = starts[-1], 1
    for pos in range(start, len(text)):
        if text[pos] == "{":
            depth += 1
        elif text[pos] == "}":
            depth -= 1
            if depth == 0:
                return text[start:pos].strip()
    return None  # unbalanced: malformed


def last_number(text: str) -> str | None:
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    return numbers[-1].replace(",", "").rstrip(".") if numbers else None


def extract_answer(text: str, form: str) -> str | None:
    """The answer string of a completion in the benchmark's ``form``; None when there is none."""
    if form == "boxed":
        return last_boxed(text)
    if form == "gsm8k":
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed
        marked = re.findall(r"####\s*(-?[\d,.]+)", text)
        return marked[-1].replace(",", "").rstrip(".") if marked else last_number(text)
    if form == "choice":
        candidates = [last_boxed(text) or ""]
        candidates += re.findall(r"[Aa]nswer(?: is)?\s*:?\s*\(?([A-D])\)?", text)
        for candidate in reversed(candidates):
            letter = re.fullmatch(r"\s*(?:\\text\{)?\(?([A-D])\)?\}?\s*", candidate or "")
            if letter:
                return letter.group(1)
        return None
    if form == "plain":
        line = text.strip().split("\n")[0].strip()
        return line or None
    raise ValueError(f"unknown answer form {form!r}")


def _as_latex(answer: str) -> str:
    answer = answer.strip()
    return answer if answer.startswith("$") else f"${answer}$"


def is_equivalent(predicted: str | None, gold: str, form: str) -> bool:
    """Whether an extracted answer matches the gold answer (math-verify, or letters for choice)."""
    if predicted is None:
        return False
    if form == "choice":
        return predicted.strip().upper() == gold.strip().upper()
    if predicted.strip() == gold.strip():
        return True
    from math_verify import parse, verify

    try:
        gold_parsed = parse(_as_latex(gold))
        pred_parsed = parse(_as_latex(predicted))
        return bool(gold_parsed) and bool(pred_parsed) and bool(verify(gold_parsed, pred_parsed))
    except Exception:  # math-verify raises on some malformed LaTeX: a wrong answer, not a crash
        return False


def pass_at_k(n: int, correct: int, k: int) -> float:
    """Unbiased pass@k of one item with ``correct`` right answers among ``n`` samples."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - correct < k:
        return 1.0
    return 1.0 - comb(n - correct, k) / comb(n, k)


def score_item(completions: list[str], gold: str, form: str, ks: list[int]) -> dict[str, float]:
    """avg@n as ``acc`` and ``pass@k`` for each k ≤ n, for one item's n completions."""
    verdicts = [is_equivalent(extract_answer(text, form), gold, form) for text in completions]
    n, correct = len(verdicts), sum(verdicts)
    scores = {"acc": correct / n if n else 0.0}
    for k in ks:
        if k <= n:
            scores[f"pass@{k}"] = pass_at_k(n, correct, k)
    return scores


# --- documents -----------------------------------------------------------------------------

QUESTION_FIELDS = ("question", "problem", "Question", "Problem")
ANSWER_FIELDS = ("answer", "Answer", "final_answer")


def _field(doc: dict, names: tuple[str, ...], what: str) -> str:
    for name in names:
        if name in doc and doc[name] is not None:
            return str(doc[name])
    raise KeyError(f"benchmark item lacks a {what} field (one of {names}): keys {sorted(doc)}")


def normalize_doc(doc: dict, form: str) -> dict:
    """A dataset row as {question, answer[, choices]} whatever the source's field names."""
    if form == "choice" and "Correct Answer" in doc:  # GPQA's columns
        options = [doc["Correct Answer"]] + [doc[f"Incorrect Answer {i}"] for i in (1, 2, 3)]
        # Deterministic shuffle per question, so every model sees the same order.
        seed = int(hashlib.sha256(doc["Question"].encode()).hexdigest()[:8], 16)
        order = list(range(4))
        random.Random(seed).shuffle(order)
        choices = [str(options[i]).strip() for i in order]
        answer = CHOICE_LETTERS[order.index(0)]
        listing = "\n".join(f"({CHOICE_LETTERS[i]}) {c}" for i, c in enumerate(choices))
        return {"question": f"{doc['Question'].strip()}\n\n{listing}", "answer": answer}
    question = _field(doc, QUESTION_FIELDS, "question")
    answer = _field(doc, ANSWER_FIELDS, "answer")
    if form == "gsm8k" and "####" in answer:
        answer = answer.split("####")[-1].strip().replace(",", "")
    return {"question": question, "answer": answer}


def pass_ks(n: int) -> list[int]:
    """The k of pass@k reported for n samples: 1, 2, 4, … up to n, and n itself."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks if not n or ks[-1] == n else [*ks, n]


def lm_eval_scores(doc: dict, results: list, form: str) -> dict[str, float]:
    """lm-eval ``process_results``: ``results`` holds the item's n completions (take_first_k)."""
    completions = results[0] if results and isinstance(results[0], list) else list(results)
    return score_item(completions, doc["answer"], form, pass_ks(len(completions)))
