"""Disk plan of a run: what it keeps, what is temporary, and how large, from a model's shapes.

The shapes come from the model's HF ``config.json`` (a Llama/Qwen-style decoder: attention
q/k/v/o, gated MLP, RMS norms), so a real run can be planned before anything is downloaded.
Sizes follow the file formats this project writes: float32 factors U (m×k), S (k), V (n×k)
and ‖ΔW‖F per matrix; the rank-1 series keeps u, v, σ1 and ‖ΔW‖F per matrix and step.
"""

from __future__ import annotations

import re

from rldynamics.core.errors import InputError
from rldynamics.evaluate.runmodels import RunModels, planned_steps, run_models

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
FLOAT32 = 4


# Sizes of what scoring keeps (estimates, stated in the plan's notes).
VERDICT_ROW_BYTES = 80  # one CSV row of item verdicts
BYTES_PER_TOKEN = 4  # text of a generated token (English and LaTeX)
GZIP_RATIO = 3  # gzip on model completions


def decoder_shapes(hf_config: dict) -> dict[str, tuple[int, ...]]:
    """{tensor name: shape} of a Llama/Qwen-style decoder described by ``hf_config``."""
    try:
        hidden = hf_config["hidden_size"]
        inter = hf_config["intermediate_size"]
        layers = hf_config["num_hidden_layers"]
        heads = hf_config["num_attention_heads"]
        kv_heads = hf_config.get("num_key_value_heads", heads)
        vocab = hf_config["vocab_size"]
    except KeyError as err:
        raise InputError(f"model config: no {err} (a decoder's config.json is expected)") from err
    head_dim = hf_config.get("head_dim") or hidden // heads
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}"
        shapes[f"{p}.self_attn.q_proj.weight"] = (heads * head_dim, hidden)
        shapes[f"{p}.self_attn.k_proj.weight"] = (kv_heads * head_dim, hidden)
        shapes[f"{p}.self_attn.v_proj.weight"] = (kv_heads * head_dim, hidden)
        shapes[f"{p}.self_attn.o_proj.weight"] = (hidden, heads * head_dim)
        if hf_config.get("attention_bias", hf_config.get("model_type") == "qwen2"):
            shapes[f"{p}.self_attn.q_proj.bias"] = (heads * head_dim,)
            shapes[f"{p}.self_attn.k_proj.bias"] = (kv_heads * head_dim,)
            shapes[f"{p}.self_attn.v_proj.bias"] = (kv_heads * head_dim,)
        if hf_config.get("model_type") == "qwen3":
            shapes[f"{p}.self_attn.q_norm.weight"] = (head_dim,)
            shapes[f"{p}.self_attn.k_norm.weight"] = (head_dim,)
        shapes[f"{p}.mlp.gate_proj.weight"] = (inter, hidden)
        shapes[f"{p}.mlp.up_proj.weight"] = (inter, hidden)
        shapes[f"{p}.mlp.down_proj.weight"] = (hidden, inter)
        shapes[f"{p}.input_layernorm.weight"] = (hidden,)
        shapes[f"{p}.post_attention_layernorm.weight"] = (hidden,)
    shapes["model.norm.weight"] = (hidden,)
    if not hf_config.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (vocab, hidden)
    return shapes


def _count(shape) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def _rank_of(k, m: int, n: int) -> int:
    """The triplets a rank of rank_models.ranks keeps for an m × n matrix (as the builder)."""
    from rldynamics.evaluate.recipes import matrix_rank

    kept = matrix_rank(k, (m, n))
    return min(m, n) if kept is None else kept


def base_metrics_bytes(m: int, n: int, parameters: dict) -> int:
    """One matrix in the base-metrics file (:mod:`rldynamics.decompose.metrics_files`): float64
    spectrum, float32 top-r U, S, V (r as :func:`rldynamics.decompose.param_metrics.vector_rank`),
    five scalars."""
    full = min(m, n)
    ranks = [int(k) for k in parameters["angle_ranks"] if int(k) <= full]
    r = min(max(ranks + [int(parameters["mask_rank"])]), full)
    return full * 8 + (m + n + 1) * r * FLOAT32 + 5 * 8


def model_bytes(hf_config: dict, shapes: dict[str, tuple[int, ...]]) -> int:
    """Bytes of one model of ``shapes`` in the dtype of ``hf_config`` (bfloat16 if unset)."""
    dtype = hf_config.get("torch_dtype") or hf_config.get("dtype") or "bfloat16"
    if dtype not in DTYPE_BYTES:
        raise InputError(f"model config: torch_dtype {dtype!r} is not one of {list(DTYPE_BYTES)}")
    return sum(_count(s) for s in shapes.values()) * DTYPE_BYTES[dtype]


def decomposed_matrices(shapes: dict[str, tuple[int, ...]], pattern: str) -> list[tuple]:
    """Shapes of the matrices decompose.pattern selects."""
    selected = re.compile(pattern)
    matrices = [s for name, s in shapes.items() if selected.search(name) and len(s) == 2]
    if not matrices:
        raise InputError("decompose.pattern selects no matrix of this model")
    return matrices


def factor_bytes(matrices: list[tuple], rank_for) -> int:
    """One factor file: U, S, V of rank ``rank_for(m, n)`` and ‖ΔW‖F per matrix, float32."""
    return sum((m + n + 1) * rank_for(m, n) * FLOAT32 + FLOAT32 for m, n in matrices)


def rank1_bytes(matrices: list[tuple]) -> int:
    """One step of the rank-1 series: u, v, σ1 and ‖ΔW‖F per matrix, float32."""
    return sum((m + n + 2) * FLOAT32 for m, n in matrices)


def _disk_row(what, where, count, each, kept, note="") -> dict:
    return {
        "what": what,
        "where": where,
        "count": count,
        "each": each,
        "total": count * each,
        "kept": kept,
        "note": note,
    }


def model_rows(config: dict, n_steps: int, size: int) -> list[dict]:
    """The base and checkpoints of size ``size``: their downloads (from HF) and folders."""
    rows = []
    if config["checkpoints"]["source"] == "hf":
        rows.append(
            _disk_row(
                "base and checkpoint downloads",
                "HF cache (HF_HOME)",
                1 + n_steps,
                size,
                "kept",
                "safetensors only; free it with `hf cache` once the run is done",
            )
        )
    rows.append(
        _disk_row(
            "base and checkpoint folders",
            "results/<run>/models/base, checkpoints/step-N",
            1 + n_steps,
            size,
            "kept",
            "hard links to the cache or trainer output (no extra space) on the same file "
            "system, copies otherwise",
        )
    )
    return rows


def decomposition_rows(config: dict, matrices: list[tuple], n_steps: int) -> list[dict]:
    """The factors of every update, those of ranks beyond decompose.rank, and W0's share of
    the parameter metrics where they are on."""
    rank = config["decompose"]["rank"]
    rows = [
        _disk_row(
            f"top-{rank} factors of every update",
            f"results/<run>/factors/k{rank}/",
            n_steps,
            factor_bytes(matrices, lambda m, n: min(rank, m, n)),
            "kept",
            "float32 U, S, V and ‖ΔW‖F",
        )
    ]
    for k in config["rank_models"]["ranks"]:
        kept_rank = [_rank_of(k, m, n) for m, n in matrices]
        if max(kept_rank) > rank:
            label = str(k).replace("%", "pct")
            rows.append(
                _disk_row(
                    f"rank-{k} factors of the final update",
                    f"results/<run>/factors/k{label}/",
                    1,
                    factor_bytes(matrices, lambda m, n, k=k: _rank_of(k, m, n)),
                    "kept",
                    "one decomposition beyond the per-checkpoint rank",
                )
            )
    parameters = config["parameters"]
    if parameters["enabled"]:
        rows.append(
            _disk_row(
                "W0's share of the parameter metrics",
                "results/<run>/parameters/base-metrics.safetensors",
                1,
                sum(base_metrics_bytes(m, n, parameters) for m, n in matrices),
                "kept",
                "once per run: spectrum, top singular vectors and mask thresholds of every W0",
            )
        )
    return rows


def dynamics_rows(models: RunModels, matrices: list[tuple]) -> list[dict]:
    """The rank-1 series of the evaluated checkpoints and AlphaRL's predicted updates (none
    without a trajectory)."""
    if not models.trajectory:
        return []
    eval_steps = len(models.eval_steps)
    return [
        _disk_row(
            "rank-1 series",
            "results/<run>/dynamics/",
            1,
            rank1_bytes(matrices) * eval_steps,
            "kept",
            f"{eval_steps} evaluated checkpoints",
        ),
        _disk_row(
            "AlphaRL predicted updates",
            "results/<run>/alpharl/",
            len(models.family("alpharl")),
            rank1_bytes(matrices),
            "kept",
            "variants × windows, rank 1",
        ),
    ]


def scoring_rows(config: dict, steps: list[int], size: int) -> list[dict]:
    """What scoring keeps, priced by the compute plan: per-item verdicts (always), completions
    (where evaluate.log_samples is on); derived models of size ``size`` are never written
    (hf builds them in its live model, vllm in its workers)."""
    from rldynamics.runs.computeplan import plan as compute_plan

    scoring = compute_plan(config, steps)
    log_samples = config["evaluate"]["log_samples"]
    tokens = sum(r["tokens"] for r in scoring["rows"])
    generations = sum(r["generations"] for r in scoring["rows"])
    completion_bytes = tokens * BYTES_PER_TOKEN / GZIP_RATIO / max(1, generations)
    return [
        _disk_row(
            "per-item verdicts",
            "results/<run>/eval/*/*.items.csv, tables/items.csv.gz",
            sum(r["models"] * r["items"] for r in scoring["rows"]),
            VERDICT_ROW_BYTES,
            "kept",
            "one row per model, benchmark and item (samples and correct ones)",
        ),
        _disk_row(
            "completions (evaluate.log_samples)",
            "results/<run>/eval/*/*.completions.jsonl.gz",
            generations if log_samples else 0,
            int(completion_bytes),
            "kept" if log_samples else "none",
            f"{'on' if log_samples else 'off'}: the compute plan's "
            f"{tokens / 1e9:.3g} G generated tokens at ~{BYTES_PER_TOKEN} bytes a token, gzip "
            f"~{GZIP_RATIO:g}× (assumed); for `rldynamics rescore` without new generations",
        ),
        _disk_row(
            "derived models being scored",
            "memory of a scoring job",
            0,
            size,
            "none",
            "built from base + factors in the scoring process (hf) or vLLM's workers; "
            "nothing written",
        ),
    ]


def plan(hf_config: dict, config: dict) -> list[dict]:
    """Rows of the disk plan of ``config`` (validated, defaults filled) on this model."""
    shapes = decoder_shapes(hf_config)
    size = model_bytes(hf_config, shapes)
    matrices = decomposed_matrices(shapes, config["decompose"]["pattern"])
    steps = planned_steps(config)
    models = run_models(config, steps)
    return [
        *model_rows(config, len(steps), size),
        *decomposition_rows(config, matrices, len(steps)),
        *dynamics_rows(models, matrices),
        *scoring_rows(config, steps, size),
    ]


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError


def markdown(rows: list[dict]) -> str:
    lines = [
        "| What | Where | Count | Each | Total | Kept |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        note = f" ({r['note']})" if r["note"] else ""
        lines.append(
            f"| {r['what']}{note} | {r['where']} | {r['count']} | {human(r['each'])} "
            f"| {human(r['total'])} | {r['kept']} |"
        )
    kept = sum(r["total"] for r in rows if r["kept"] == "kept")
    folders = sum(r["total"] for r in rows if r["what"] == "base and checkpoint folders")
    lines.append(
        f"| **kept, folders hard-linked to the cache** | | | | **{human(kept - folders)}** | |"
    )
    lines.append(f"| **kept, folders copied** | | | | **{human(kept)}** | |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- disk-plan:begin -->", "<!-- disk-plan:end -->"


def replace_block(document: str, table: str, source) -> str:
    """``document`` with the text between the disk-plan markers replaced by ``table``."""
    from rldynamics.core.io import replace_between

    return replace_between(document, table, source, BEGIN, END)
