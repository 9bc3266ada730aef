"""Hooks that the task YAMLs of this folder name with ``!function utils.<name>``.

They only bind the benchmark's answer form; the rows and prompts live in
``rldynamics.evaluate.benchmark_docs``, the reading and grading in ``rldynamics.core.grading``
(tested there).
"""

from rldynamics.core.errors import InputError
from rldynamics.core.grading import lm_eval_scores
from rldynamics.evaluate.benchmark_docs import normalize_doc, prompt


def _source(dataset) -> str:
    """The dataset a row comes from, in words (its files where it has them)."""
    files = sorted({entry["filename"] for entry in getattr(dataset, "cache_files", None) or []})
    info = getattr(dataset, "info", None)
    name = " ".join(
        filter(None, [getattr(info, "dataset_name", None), getattr(info, "config_name", None)])
    )
    return ", ".join(filter(None, [name, *files])) or "the benchmark dataset"


def _docs(dataset, form):
    def normalize(doc, index):
        try:
            return normalize_doc(doc, form)
        except InputError as err:
            raise InputError(f"{_source(dataset)}, row {index}: {err}") from None

    return dataset.map(normalize, with_indices=True, remove_columns=dataset.column_names)


def docs_boxed(dataset):
    return _docs(dataset, "boxed")


def docs_gsm8k(dataset):
    return _docs(dataset, "gsm8k")


def docs_choice(dataset):
    return _docs(dataset, "choice")


def prompt_boxed(doc):
    """The paper's prompt: the question, then the instruction to box the final answer."""
    return prompt(doc, "boxed")


def prompt_choice(doc):
    """The question, its options (A)–(D), then the instruction to box the letter."""
    return prompt(doc, "choice")


def score_boxed(doc, results):
    return lm_eval_scores(doc, results, "boxed")


def score_gsm8k(doc, results):
    return lm_eval_scores(doc, results, "gsm8k")


def score_choice(doc, results):
    return lm_eval_scores(doc, results, "choice")


def score_plain(doc, results):
    return lm_eval_scores(doc, results, "plain")
