"""Benchmark rows and prompts: every public copy's columns mapped to one item form.

An item is ``{question, answer}`` (multiple choice adds ``choices``, the option texts in the
order shown). The forms the public copies of the papers' benchmarks use:

- ``question``/``answer`` (GSM8K, whose answer ends in ``#### N``; Minerva copies),
- ``problem``/``answer`` (MATH-500, AIME), also capitalised (``Problem``/``Answer``, an integer),
- ``problem``/``solution`` with the answer boxed inside the solution (MATH and Minerva copies):
  the solution's last box is the answer,
- GPQA's columns (``Question``, ``Correct Answer``, ``Incorrect Answer 1``–``3``), cleaned as
  lm-eval's GPQA task cleans them (`` [title]`` and bracketed markup removed), the options
  shuffled by a seed drawn from the raw question text, so every model sees the same order.

The prompt is the question and the paper's instruction, without a final period (the released
code has none, METHOD.md §8); a multiple-choice prompt lists the options and asks for the
letter in a box.
"""

from __future__ import annotations

import hashlib
import random
import re

from rldynamics.core.errors import InputError
from rldynamics.core.grading import CHOICE_LETTERS, last_boxed

# The paper's instruction, appended to every question (AlphaRL released code: no final period).
BOXED_INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}"
CHOICE_INSTRUCTION = (
    "\nPlease reason step by step, and put the letter of your final choice "
    "(A, B, C or D) within \\boxed{}"
)

QUESTION_FIELDS = ("question", "problem", "Question", "Problem")
ANSWER_FIELDS = ("answer", "Answer", "final_answer")
SOLUTION_FIELDS = ("solution", "Solution")
GPQA_FIELDS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2")
GPQA_FIELDS += ("Incorrect Answer 3",)


def _first(doc: dict, names: tuple[str, ...]) -> str | None:
    for name in names:
        if doc.get(name) is not None:
            return str(doc[name])
    return None


def gpqa_clean(text: str | None) -> str:
    """lm-eval's GPQA preprocessing: `` [title]`` becomes ". ", other ``[…]`` markup goes."""
    if text is None:
        return " "
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def row_problem(doc: dict, form: str) -> str | None:
    """What a row lacks to be an item of ``form``, in words; None when it is complete."""
    if form == "choice":
        missing = [name for name in GPQA_FIELDS if doc.get(name) is None]
        if not missing:
            return None
        if _first(doc, QUESTION_FIELDS) is not None and _first(doc, ANSWER_FIELDS) is not None:
            return None  # already an item (question, answer letter[, choices])
        return f"lacks the multiple-choice field(s) {missing} (GPQA's columns)"
    if _first(doc, QUESTION_FIELDS) is None:
        return f"lacks a question field (one of {', '.join(QUESTION_FIELDS)})"
    if _first(doc, ANSWER_FIELDS) is not None:
        return None
    solution = _first(doc, SOLUTION_FIELDS)
    if solution is None:
        fields = ", ".join(ANSWER_FIELDS + SOLUTION_FIELDS)
        return f"lacks an answer field (one of {fields}, a solution with a boxed answer)"
    if last_boxed(solution) is None:
        return "has a solution but no \\boxed{} answer in it"
    return None


def normalize_doc(doc: dict, form: str) -> dict:
    """A dataset row as {question, answer[, choices]} whatever the source's field names.

    Raises InputError naming the missing field; callers add the file or dataset at fault.
    """
    problem = row_problem(doc, form)
    if problem:
        raise InputError(f"benchmark item {problem}: keys {sorted(doc)}")
    if form == "choice" and doc.get("Correct Answer") is not None:
        options = [doc["Correct Answer"]] + [doc[f"Incorrect Answer {i}"] for i in (1, 2, 3)]
        # Deterministic shuffle per question (seeded by the raw text), so every model sees the
        # same order.
        seed = int(hashlib.sha256(str(doc["Question"]).encode()).hexdigest()[:8], 16)
        order = list(range(4))
        random.Random(seed).shuffle(order)
        choices = [gpqa_clean(str(options[i])).strip() for i in order]
        answer = CHOICE_LETTERS[order.index(0)]
        return {"question": gpqa_clean(str(doc["Question"])), "answer": answer, "choices": choices}
    question = _first(doc, QUESTION_FIELDS)
    answer = _first(doc, ANSWER_FIELDS)
    if answer is None:
        answer = last_boxed(_first(doc, SOLUTION_FIELDS))
    if form == "gsm8k" and "####" in answer:
        answer = answer.split("####")[-1].strip().replace(",", "")
    item = {"question": question, "answer": answer.strip()}
    if form == "choice":
        item["choices"] = [str(c) for c in doc.get("choices") or []]
    return item


def prompt(doc: dict, form: str) -> str:
    """The question, the options of a multiple-choice item, and the instruction."""
    if form == "choice":
        choices = doc.get("choices") or []
        listing = "\n".join(f"({CHOICE_LETTERS[i]}) {c}" for i, c in enumerate(choices))
        body = f"{doc['question'].strip()}\n\n{listing}" if listing else doc["question"]
        return body + CHOICE_INSTRUCTION
    return doc["question"] + BOXED_INSTRUCTION
