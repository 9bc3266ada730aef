"""Which parameters are decomposed (METHOD §1). Plain Python: the DAG and CLI import it cheaply."""

from __future__ import annotations

import re

# Every 2-D weight of a decoder layer's attention and MLP projections, as the released code.
DEFAULT_PARAM_PATTERN = (
    r"^model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$"
)


def select_params(names: list[str], pattern: str = DEFAULT_PARAM_PATTERN) -> list[str]:
    """Names matching ``pattern``, in a stable (layer-numeric) order."""
    regex = re.compile(pattern)
    chosen = [n for n in names if regex.search(n)]

    def order(name: str):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]

    return sorted(chosen, key=order)


def module_kind(name: str) -> tuple[int | None, str]:
    """(layer index, projection type) parsed from a parameter name, for tables and figures."""
    layer = re.search(r"layers\.(\d+)\.", name)
    proj = re.search(r"\.(\w+_proj)\.", name)
    return (int(layer.group(1)) if layer else None, proj.group(1) if proj else name)
