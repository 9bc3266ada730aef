"""A checkpoint series on disk: the step of each trainer folder, and the HF model folder in it.

Plain Python with no heavy imports: the DAG (common.smk, run by every cluster job) reads it.
"""

from __future__ import annotations

import re
from pathlib import Path

from rldynamics.core.errors import InputError

STEP_FOLDER = re.compile(r"^(?:checkpoint|step)-(\d+)$")
# Trainer output folders directly under a source folder: TRL / transformers ``checkpoint-N``,
# this project's ``step-N``, verl's ``global_step_N``.
SOURCE_FOLDER = re.compile(r"^(?:checkpoint-|step-|global_step_)(\d+)$")
# Where a verl step folder keeps its HF-format model once verl's model merger has run.
VERL_HF_FOLDER = Path("actor/huggingface")


def _glob_steps(pattern: str) -> dict[int, Path]:
    """{step: folder} of the folders matching a glob whose first ``*`` holds the step."""
    import glob

    parts = re.split(r"(\*|\?)", pattern)
    regex = "".join(
        "([^/]*)" if part == "*" else "[^/]" if part == "?" else re.escape(part) for part in parts
    )
    found: dict[int, Path] = {}
    for match in sorted(glob.glob(pattern)):
        if not Path(match).is_dir():
            continue
        step_text = re.fullmatch(regex, match).group(1)
        if not step_text.isdigit():
            raise InputError(
                f"checkpoint glob {pattern}: the first '*' must match the step number, but "
                f"it matches '{step_text}' in {match}"
            )
        step = int(step_text)
        if step in found:
            raise InputError(f"{pattern}: step {step} matches twice ({found[step]}, {match})")
        found[step] = Path(match)
    if not found:
        raise InputError(f"checkpoint glob {pattern}: no folder matches")
    return found


def find_checkpoints(source: str | Path) -> dict[int, Path]:
    """{step: HF model folder} of a checkpoint series on disk.

    ``source`` is either a folder whose children are ``checkpoint-N``, ``step-N`` or
    ``global_step_N`` (verl; its ``actor/huggingface`` model is taken) folders, or a glob
    such as ``runs/exp/global_step_*/actor/merged`` whose first ``*`` matches the step.
    """
    if "*" in str(source):
        return _glob_steps(str(source))
    source = Path(source)
    if not source.is_dir():
        raise InputError(f"checkpoint source folder not found: {source}")
    found: dict[int, Path] = {}
    for child in sorted(source.iterdir()):
        match = SOURCE_FOLDER.match(child.name)
        if match and child.is_dir():
            step = int(match.group(1))
            if step in found:
                raise InputError(f"{source}: step {step} appears twice ({found[step]}, {child})")
            verl_model = child / VERL_HF_FOLDER
            found[step] = verl_model if verl_model.is_dir() else child
    if not found:
        raise InputError(
            f"{source}: no checkpoint-<N>, step-<N> or global_step_<N> folders "
            "(or give a glob whose first '*' matches the step)"
        )
    return found
