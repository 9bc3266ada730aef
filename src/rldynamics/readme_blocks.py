"""The README's generated blocks (disk plan, compute plans, claims): text between two markers."""

from __future__ import annotations

from rldynamics.errors import InputError


def replace_between(document: str, text: str, source, begin: str, end: str) -> str:
    """``document`` with the text between ``begin`` and ``end`` replaced by ``text``."""
    if begin not in document or end not in document:
        raise InputError(f"{source}: no {begin} … {end} block to fill")
    head, rest = document.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{text}{end}{tail}"
