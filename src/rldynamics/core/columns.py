"""The columns of the tidy tables that several stages write and read (no imports: any module
may use it)."""

# One row per measurement (model, benchmark, metric); every table of results uses these.
RESULT_COLUMNS = [
    "run",
    "model_kind",
    "step",
    "k",
    "lam",
    "variant",
    "benchmark",
    "metric",
    "value",
    "n",
    "stderr",
    "grader",
]
# The labels that tell the models of a run apart (with the run).
LABELS = ("run", "model_kind", "step", "k", "lam", "variant")
MODEL_LABELS = ["model_kind", "step", "k", "lam", "variant"]
# One row per model, benchmark and item: how many samples, how many right.
ITEM_COLUMNS = [
    "run",
    *MODEL_LABELS,
    "benchmark",
    "item",
    "doc_hash",
    "n_samples",
    "n_correct",
    "grader",
]
