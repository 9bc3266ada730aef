"""Model recipes: the one place where a model's description becomes its tensors.

A scored or built model is one of three recipes, each a small frozen dataclass that travels as
JSON (to a vLLM worker); a scoring job's model entry (:class:`rldynamics.evaluate.job.ModelEntry`)
becomes one through :func:`recipe_from_spec`:

- :class:`FolderModel`: a model folder as it is (base, RL checkpoint);
- :class:`RankKModel`: W + λ · c · ΔW(k) from a factor file (AlphaRL Eq. 3), W being the base,
  or the model in ``container`` (AlphaRL's official-code adds its prediction to the window-end
  checkpoint); ``rest`` says where the tensors that are not decomposed come from;
- :class:`Extrapolation`: the peer baseline, W_B + α (W_S − W_B) (below).

:func:`changed_tensors` gives the tensors in which a recipe differs from the base (the hf
backend copies them into its live model), :func:`full_tensors` every tensor of the model (the
``build`` command writes them, a vLLM worker reloads them in place). Both read tensor by tensor
from the safetensors files; nothing here writes to disk.

Rank-k models (``scale="frobenius"`` rescales the truncated update to the whole update's
Frobenius norm, as the released code does; ``scale="none"`` keeps it as it is). Tensors that are
not decomposed (METHOD §2): ``rest="base"`` keeps the base value of every one of them (the
released code); ``rest="rl"`` takes the 1-D ones (norms, biases) from the RL checkpoint
``rest_from``, as another reproduction does, while the other 2-D tensors that are not decomposed
(embeddings, lm_head) keep the base value.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from pathlib import Path

import torch

from rldynamics.core.errors import InputError
from rldynamics.core.io import ModelWeights, load_factors
from rldynamics.decompose.factors import parse_rank
from rldynamics.evaluate.job import ModelEntry

SCALES = ("frobenius", "none")
RESTS = ("base", "rl")
DTYPES = ("float32", "bfloat16", "float16")
PERCENT_RANK = re.compile(r"^(\d+(?:\.\d+)?)(?:%|pct)$")


# --- the recipes -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FolderModel:
    """A model folder as it is; the base folder itself is the base model."""

    base: str
    folder: str


@dataclasses.dataclass(frozen=True)
class RankKModel:
    """W(k, λ) = W + λ · c · ΔW(k), W the base's (or ``container``'s) decomposed matrices."""

    base: str
    factors: str
    rank: str
    scale: str = "frobenius"
    lam: float = 1.0
    rest: str = "base"
    rest_from: str | None = None
    container: str | None = None
    # The dtype the rank-k matrices are rounded to (None: the container's own).
    dtype: str | None = None

    def __post_init__(self):
        if self.scale not in SCALES:
            raise InputError(f"scale must be one of {SCALES}, got {self.scale!r}")
        if self.rest not in RESTS:
            raise InputError(f"rest must be one of {RESTS}, got {self.rest!r}")
        if self.rest == "rl" and not self.rest_from:
            raise InputError(f"{self.factors}: rest 'rl' needs the RL checkpoint (rest_from)")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        matrix_rank(self.rank, (1, 1))  # a bad rank is named before any tensor is read


@dataclasses.dataclass(frozen=True)
class Extrapolation:
    """The whole-weight baseline: W_B + α (W_S − W_B) from the window's two checkpoints."""

    base: str
    start: str
    end: str
    alpha: float


Recipe = FolderModel | RankKModel | Extrapolation
KINDS = {"folder": FolderModel, "rank-k": RankKModel, "extrapolation": Extrapolation}


def recipe_from_spec(model: ModelEntry, base: str | Path) -> Recipe:
    """The recipe of one model of a scoring job (read and checked by
    :meth:`rldynamics.evaluate.job.ModelEntry.from_spec`), on the job's ``base``:

    ``folder``; or ``factors`` + ``rank`` (+ ``scale``, ``lam``, ``rest``, ``rest_from``; with
    ``folder`` too, that folder is the container); or ``extrapolate`` {from, to, alpha}.
    """
    base = str(base)
    if model.source_problem:
        raise InputError(f"model {model.key or '?'!r}: {model.source_problem}")
    if model.extrapolate:
        e = model.extrapolate
        return Extrapolation(base, e.start, e.end, e.alpha)
    if model.factors:
        folder = model.folder
        container = folder if folder and not same_folder(folder, base) else None
        return RankKModel(
            base=base,
            factors=model.factors,
            rank=model.rank,
            scale=model.scale,
            lam=1.0 if model.lam is None else float(model.lam),
            rest=model.rest,
            rest_from=model.rest_from,
            container=container,
        )
    return FolderModel(base, model.folder)


def to_json(recipe: Recipe) -> dict:
    """A plain dict (with its kind) that :func:`from_json` reads back, e.g. in a vLLM worker."""
    kind = next(k for k, cls in KINDS.items() if isinstance(recipe, cls))
    return {"kind": kind, **dataclasses.asdict(recipe)}


def from_json(data: dict) -> Recipe:
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in KINDS:
        raise InputError(f"recipe kind must be one of {sorted(KINDS)}, got {kind!r}")
    return KINDS[kind](**data)


def same_folder(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


# --- rank-k arithmetic -------------------------------------------------------------------------


def matrix_rank(rank: str | int, shape: tuple[int, int]) -> int | None:
    """k for one matrix: an integer, None for 'full', or p % of min(m, n) (at least 1)."""
    match = PERCENT_RANK.match(str(rank))
    if match:
        return max(1, math.floor(min(shape) * float(match.group(1)) / 100))
    return parse_rank(rank)


def rank_k_update(
    parts: dict[str, torch.Tensor], rank: int | None, scale: str = "frobenius", lam: float = 1.0
) -> torch.Tensor:
    """λ · c · Σ_{i≤k} σi ui viᵀ with c = ‖ΔW‖F/‖ΔW(k)‖F (frobenius) or 1 (none)."""
    if scale not in SCALES:
        raise InputError(f"scale must be one of {SCALES}, got {scale!r}")
    available = parts["S"].shape[0]
    k = available if rank is None else rank
    if k > available:
        raise InputError(f"rank {k} asked for, but the factor file holds only {available}")
    U, S, V = parts["U"][:, :k], parts["S"][:k], parts["V"][:, :k]
    update = (U * S) @ V.T
    if scale == "frobenius":
        # ‖ΔW(k)‖F = sqrt(Σ σi²) since the singular vectors are orthonormal.
        truncated_norm = torch.linalg.norm(S)
        factor = parts["fro"] / truncated_norm if truncated_norm > 0 else torch.tensor(0.0)
        update = update * factor
    return lam * update


def rl_checkpoint_for(factors_path, meta: dict, checkpoint: str | Path | None) -> Path:
    """The RL checkpoint that ``rest="rl"`` reads: given, or recorded in the factor file."""
    folder = checkpoint or meta.get("checkpoint")
    if not folder:
        raise InputError(
            f"{factors_path}: rest 'rl' needs the RL checkpoint, but the factor file records none "
            "(metadata 'checkpoint'); give it with --checkpoint"
        )
    if not Path(folder).is_dir():
        where = "given" if checkpoint else f"recorded in {factors_path}"
        raise InputError(f"rest 'rl': the RL checkpoint folder {folder} ({where}) is not found")
    return Path(folder)


def rank_k_weights(
    base: ModelWeights,
    factors_path: str | Path,
    rank: str | int,
    scale: str = "frobenius",
    lam: float = 1.0,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """The decomposed matrices of W(k, λ), read tensor by tensor, formed in float32 and
    returned in ``dtype`` (default the base's own).

    ``rank``: an integer, 'full', or a percentage of each matrix's min(m, n) ('10%', '10pct').
    """
    matrix_rank(rank, (1, 1))  # validates the rank before any tensor is read
    factors, _ = load_factors(factors_path)
    missing = [p for p in factors if p not in base.files]
    if missing:
        raise InputError(f"{factors_path}: parameters not in base {base.folder}: {missing[:3]}")
    weights = {}
    for name, parts in factors.items():
        w0 = base.get(name)
        if (parts["U"].shape[0], parts["V"].shape[0]) != tuple(w0.shape):
            raise InputError(
                f"{factors_path}: factors of {name!r} have shape "
                f"{(parts['U'].shape[0], parts['V'].shape[0])}, base has {tuple(w0.shape)}"
            )
        k = matrix_rank(rank, tuple(w0.shape))
        weights[name] = (w0.float() + rank_k_update(parts, k, scale, lam)).to(dtype or w0.dtype)
    return weights


def rest_weights(base: ModelWeights, rl: ModelWeights, skip) -> dict[str, torch.Tensor]:
    """``rest="rl"``: the 1-D tensors (norms, biases) that are not decomposed, from the RL model."""
    out = {}
    for name in base.names():
        if name in skip:
            continue
        w0 = base.get(name)
        if w0.ndim > 1:
            continue
        w1 = rl.get(name)
        if w1.shape != w0.shape:
            raise InputError(
                f"tensor {name!r}: shape {tuple(w1.shape)} in {rl.folder} differs from "
                f"{tuple(w0.shape)} in {base.folder}"
            )
        out[name] = w1.to(w0.dtype)
    return out


# --- recipe → tensors --------------------------------------------------------------------------


def torch_dtype(name: str | None) -> torch.dtype | None:
    return None if name in (None, "auto") else getattr(torch, name)


def rank_k_parts(
    recipe: RankKModel, base: ModelWeights, dtype: torch.dtype | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(container tensors, rank-k matrices, 1-D tensors from the RL checkpoint) of a rank-k
    recipe; the container's are empty when W is the base. ``dtype`` overrides the recipe's."""
    container, copied = base, {}
    if recipe.container and not same_folder(recipe.container, base.folder):
        container = ModelWeights(recipe.container)
        copied = {name: container.get(name) for name in container.names()}
    wanted = dtype if dtype is not None else torch_dtype(recipe.dtype)
    replaced = rank_k_weights(
        container, recipe.factors, recipe.rank, recipe.scale, recipe.lam, wanted
    )
    from_rl = {}
    if recipe.rest == "rl":
        from_rl = rest_weights(container, ModelWeights(recipe.rest_from), replaced)
    return copied, replaced, from_rl


def changed_tensors(
    recipe: Recipe, base: ModelWeights | None = None, dtype: torch.dtype | None = None
) -> dict[str, torch.Tensor]:
    """The tensors in which the recipe's model differs from the base (or all of them).

    ``dtype``: the torch dtype of the rank-k matrices (default the recipe's, else the
    container's); the other tensors keep their stored dtype.
    """

    base = base or ModelWeights(recipe.base)
    if isinstance(recipe, FolderModel):
        if same_folder(recipe.folder, base.folder):
            return {}
        folder = ModelWeights(recipe.folder)
        return {name: folder.get(name) for name in folder.names()}
    if isinstance(recipe, Extrapolation):
        return extrapolated_weights(
            ModelWeights(recipe.start), ModelWeights(recipe.end), recipe.alpha
        )
    copied, replaced, from_rl = rank_k_parts(recipe, base, dtype)
    return {**copied, **from_rl, **replaced}


def full_tensors(
    recipe: Recipe, base: ModelWeights | None = None, dtype: torch.dtype | None = None
) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor of the base, in the recipe's model; ``dtype`` casts all
    of them (None: each keeps its own)."""
    base = base or ModelWeights(recipe.base)
    if isinstance(recipe, FolderModel):
        # Read one tensor at a time: a whole checkpoint is never held in memory at once.
        folder = ModelWeights(recipe.folder)
        extra = sorted(set(folder.names()) - set(base.names()))
        if extra:
            raise InputError(f"{recipe.folder}: tensors not in the base {base.folder}: {extra[:3]}")
        for name in base.names():
            value = folder.get(name)
            yield name, (value.to(dtype) if dtype is not None else value).contiguous()
        return
    changed = changed_tensors(recipe, base, dtype)
    extra = sorted(set(changed) - set(base.names()))
    if extra:
        raise InputError(f"{describe(recipe)}: tensors not in the base {base.folder}: {extra[:3]}")
    for name in base.names():
        value = changed[name] if name in changed else base.get(name)
        yield name, (value.to(dtype) if dtype is not None else value).contiguous()


def describe(recipe: Recipe) -> str:
    """A short name of the recipe's source for messages."""
    if isinstance(recipe, FolderModel):
        return recipe.folder
    if isinstance(recipe, Extrapolation):
        return f"extrapolation {recipe.start} → {recipe.end} (α {recipe.alpha:g})"
    return f"{recipe.factors} (rank {recipe.rank}, λ {recipe.lam:g})"


# --- the peer baseline (RLVR-Linearity, arXiv:2601.04537): whole-weight extrapolation ------
# W_B + α (W_S − W_B), α = (T − B)/(S − B), norms copied from W_S.

NORM_TENSOR = re.compile(r"norm")


def extrapolation_factor(start_step: int, end_step: int, target_step: int) -> float:
    if end_step <= start_step:
        raise InputError(f"extrapolation needs two steps B < S, got B={start_step}, S={end_step}")
    return (target_step - start_step) / (end_step - start_step)


def extrapolated_weights(start: ModelWeights, end: ModelWeights, alpha: float) -> dict:
    """Every tensor of W_B + α (W_S − W_B) (norms: W_S), in the checkpoints' dtype."""
    if set(start.names()) != set(end.names()):
        extra = sorted(set(start.names()) ^ set(end.names()))[:3]
        raise InputError(f"{start.folder} and {end.folder} hold different tensors: {extra}")
    out = {}
    for name in end.names():
        w_end = end.get(name)
        if NORM_TENSOR.search(name):
            out[name] = w_end
            continue
        w_start = start.get(name)
        if w_start.shape != w_end.shape:
            raise InputError(
                f"tensor {name!r}: shapes differ between {start.folder} and {end.folder}"
            )
        value = w_start.float() + alpha * (w_end.float() - w_start.float())
        out[name] = value.to(w_end.dtype)
    return out
