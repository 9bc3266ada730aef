"""Render the config schema as the Markdown reference in config/README.md.

The schema is the single source of every key's type, default and meaning; the reference is
generated from it (``rldynamics config-docs``) and a test checks that the two agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

HEADER = """# Configuration reference

Generated from `workflow/schemas/config.schema.yaml` by `rldynamics config-docs`; do not edit
by hand (a test checks that this page and the schema agree). `config/config.yaml` is the
embedded toy world; `config/paper/` holds the paper's runs. A real run changes `base`,
`checkpoints` and `benchmarks` and leaves the code path as it is.

Relative paths are relative to the working directory (the repository root, usually).
Unknown keys are refused.

| key | type | default | meaning |
|---|---|---|---|
"""


def _type(spec: dict) -> str:
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    kind = spec.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array" and "items" in spec:
        items = spec["items"]
        if "anyOf" in items:
            return "list of " + " or ".join(_type(s) for s in items["anyOf"])
        return f"list of {_type(items)}"
    return str(kind) if kind else "object"


def _rows(spec: dict, prefix: str = ""):
    for key, sub in spec.get("properties", {}).items():
        name = f"{prefix}{key}"
        default = json.dumps(sub["default"]) if "default" in sub else "required"
        if sub.get("type") == "object" and "properties" in sub:
            yield f"| `{name}` | section | | {sub.get('description', '')} |"
            yield from _rows(sub, f"{name}.")
            continue
        description = sub.get("description", "").replace("|", "\\|")
        shown = default if len(default) <= 40 else "see `config/config.yaml`"
        yield f"| `{name}` | {_type(sub)} | `{shown}` | {description} |"
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in extra:
            yield from _rows(extra, f"{name}.<name>.")


def render(schema_path: str | Path) -> str:
    schema = yaml.safe_load(Path(schema_path).read_text())
    return HEADER + "\n".join(_rows(schema)) + "\n"
