"""Hooks that the task YAMLs of this folder name with ``!function utils.<name>``.

They only bind the benchmark's answer form; the extraction and grading live in
``rldynamics.grading`` (tested there).
"""

from rldynamics.grading import BOXED_INSTRUCTION, lm_eval_scores, normalize_doc


def _docs(dataset, form):
    return dataset.map(lambda doc: normalize_doc(doc, form), remove_columns=dataset.column_names)


def docs_boxed(dataset):
    return _docs(dataset, "boxed")


def docs_gsm8k(dataset):
    return _docs(dataset, "gsm8k")


def docs_choice(dataset):
    return _docs(dataset, "choice")


def prompt_boxed(doc):
    """The paper's prompt: the question, then the instruction to box the final answer."""
    return doc["question"] + BOXED_INSTRUCTION


def score_boxed(doc, results):
    return lm_eval_scores(doc, results, "boxed")


def score_gsm8k(doc, results):
    return lm_eval_scores(doc, results, "gsm8k")


def score_choice(doc, results):
    return lm_eval_scores(doc, results, "choice")


def score_plain(doc, results):
    return lm_eval_scores(doc, results, "plain")
