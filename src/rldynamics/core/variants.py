"""Named readings of the method: trajectory forms and AlphaRL variants (METHOD §4, §5).

Plain Python with no heavy imports: the DAG (common.smk, run by every cluster job) reads it.

Trajectory forms are named for what they are, one vector per checkpoint t:

| form | x_t | released code |
|---|---|---|
| ``fro-u1`` | ‖ΔW_t‖F · u1(t) | — (the paper's α(t)·σ1(t)·u1(t)) |
| ``sigma1-u1`` | σ1(t) · u1(t) | extract_rank1_au, fed to AlphaPLS / AlphaPredVector |
| ``u1`` | u1(t) | extract_rank1_u, fed to the linearity script and the t-SNE figure |

Names used before (``paper``, ``official-code``, ``u``) are refused with a message naming the
new one: ``official-code`` read as σ1·u1 although the released linearity script fits u1.
"""

from __future__ import annotations

from rldynamics.core.errors import InputError

TRAJECTORY_FORMS = ("fro-u1", "sigma1-u1", "u1")
RENAMED_FORMS = {
    "paper": "the paper's form ‖ΔW‖F·u1 is now 'fro-u1'",
    "official-code": (
        "the released code uses two forms: 'sigma1-u1' (σ1·u1, extract_rank1_au, its AlphaRL "
        "prediction) and 'u1' (u1 alone, extract_rank1_u, its linearity script); name one"
    ),
    "u": "u1 alone is now 'u1'",
}


def check_form(form: str, where: str = "trajectory form") -> str:
    """``form`` if it is a trajectory form; a named error for an old or unknown name."""
    if form in TRAJECTORY_FORMS:
        return form
    if form in RENAMED_FORMS:
        raise InputError(f"{where} {form!r} was renamed: {RENAMED_FORMS[form]}")
    raise InputError(f"{where} must be one of {TRAJECTORY_FORMS}, got {form!r}")


# What each AlphaRL variant computes. ``dtype``: the dtype the predicted model is built and
# scored in ("auto": the base model's stored dtype; the released code saves float32).
VARIANTS = {
    "paper": {
        "form": "fro-u1",
        "alignment": "backward",
        "container": "base",
        "fit": "relative accuracy",
        "dtype": "auto",
    },
    "official-code": {
        "form": "sigma1-u1",
        "alignment": "backward",
        "container": "window-end",
        "fit": "raw accuracy",
        "dtype": "float32",
    },
    "prospective": {
        "form": "fro-u1",
        "alignment": "forward",
        "container": "base",
        "fit": "step",
        "dtype": "auto",
    },
    # RELEX (arXiv 2605.21468): rank 1 over time, not per matrix — the top right singular
    # vector of the window's flattened deltas, its coefficient fitted linearly in the step.
    "relex": {
        "form": "flattened ΔW",
        "alignment": "none",
        "container": "base",
        "fit": "step",
        "dtype": "auto",
    },
}
# The rank of the update each variant adds to every matrix: AlphaRL's is u vᵀ; RELEX's is one
# direction of the flattened weights, a full-rank matrix.
VARIANT_RANKS = {"paper": "1", "official-code": "1", "prospective": "1", "relex": "full"}
# Variants that read the window's checkpoint weights (the others read the rank-1 series).
WEIGHT_VARIANTS = ("relex",)
# Variants whose fit regresses on an accuracy signal (prospective fits against the step).
SIGNAL_VARIANTS = ("paper", "official-code")


def check_variant(variant: str) -> dict:
    if variant not in VARIANTS:
        raise InputError(f"AlphaRL variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    return VARIANTS[variant]


def signal_label(metrics: dict[str, str]) -> str:
    """The accuracy signal a fit read, e.g. 'math500 pass@4' or 'mean of a acc + b acc'."""
    parts = [f"{bench} {metric}" for bench, metric in sorted(metrics.items())]
    if not parts:
        raise InputError("an accuracy signal needs at least one benchmark")
    return parts[0] if len(parts) == 1 else "mean of " + " + ".join(parts)
