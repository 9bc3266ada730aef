"""A scoring job: what one ``rldynamics evaluate`` call scores, read and checked once.

The Snakemake rule passes a job as JSON (``rldynamics evaluate --spec '<json>'``, built by
``scoring_spec`` in workflow/rules/common.smk; users' scripts write the same form)::

    {"run": ..., "base": <folder>, "benchmarks": [{name, task, data, dataset}, ...],
     "models": [{key, model_kind, step, k, lam, variant, <source>}, ...],
     "backend": "hf" | "vllm", "generation": {n, temperature, top_p, max_new_tokens},
     "chat_template", "log_samples", "batch_size", "device", "dtype", "gpus",
     "trust_remote_code", "tokenizer", "limit", "item_limit", "seed", "vllm": {...}}

A model's source is a ``folder``; or ``factors`` + ``rank`` (+ ``scale``, ``lam``, ``rest``,
``rest_from``; with ``folder`` too, that folder is the container); or ``extrapolate``
{from, to, alpha} (:func:`rldynamics.evaluate.recipes.recipe_from_spec` makes it a recipe).

:meth:`ScoringJob.from_spec` reads that JSON into frozen dataclasses, fills the defaults and
raises :class:`InputError` naming the spec's source and the key at fault; everything below
``rldynamics.evaluate.scoring.score_models`` takes the typed job. :meth:`ScoringJob.to_json`
gives the JSON back (every setting stated). A key given as ``null`` reads as not given; keys
the job does not know are ignored.

No heavy imports: the command line imports this module at start.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from rldynamics.core.columns import MODEL_LABELS
from rldynamics.core.errors import InputError

BACKENDS = ("hf", "vllm")
VLLM_KEYS = ("memory_share", "kv_cache_gib", "max_model_len", "tensor_parallel")
# The job's settings that are plain JSON values (ScoringJob.to_json writes them as they are).
PLAIN_SETTINGS = (
    "chat_template",
    "log_samples",
    "batch_size",
    "device",
    "dtype",
    "gpus",
    "trust_remote_code",
    "tokenizer",
    "limit",
    "item_limit",
    "seed",
)


# --- reading typed values -----------------------------------------------------------------


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_KINDS = {
    "a string": lambda v: isinstance(v, str),
    "an integer": _is_int,
    "a number": _is_number,
    "true or false": lambda v: isinstance(v, bool),
    "an object": lambda v: isinstance(v, dict),
    "a list": lambda v: isinstance(v, list),
    "a string or an integer": lambda v: isinstance(v, str) or _is_int(v),
}


def _get(data: dict, key: str, kind: str, where: str, default=None):
    """``data[key]`` checked to be ``kind`` (a key of ``_KINDS``); absent or null: ``default``."""
    value = data.get(key)
    if value is None:
        return default
    if not _KINDS[kind](value):
        raise InputError(f"{where}: '{key}' must be {kind}, got {value!r}")
    return value


def _require(data, keys: tuple[str, ...], where: str, what: str = "") -> None:
    """``data`` is an object holding every one of ``keys`` (not null)."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: {what or 'the entry'} must be an object, got {data!r}")
    missing = [key for key in keys if data.get(key) is None]
    if missing:
        raise InputError(f"{where}: {what + ' ' if what else ''}lacks {missing}")


# --- the parts of a job ---------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """An HF dataset a benchmark reads instead of a local file (from the local HF cache)."""

    path: str
    revision: str
    name: str | None = None
    split: str | None = None

    @classmethod
    def from_spec(cls, data: dict, where: str) -> Dataset:
        _require(data, ("path", "revision"), where)
        return cls(
            path=_get(data, "path", "a string", where),
            revision=_get(data, "revision", "a string", where),
            name=_get(data, "name", "a string", where),
            split=_get(data, "split", "a string", where),
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Benchmark:
    """An lm-eval task YAML and its data: a local JSON/JSONL file, an HF dataset, or the
    YAML's own."""

    name: str
    task: str
    data: str | None = None
    dataset: Dataset | None = None

    @classmethod
    def from_spec(cls, data: dict, where: str) -> Benchmark:
        _require(data, ("name", "task"), where)
        dataset = _get(data, "dataset", "an object", where)
        return cls(
            name=_get(data, "name", "a string", where),
            task=_get(data, "task", "a string", where),
            data=_get(data, "data", "a string", where) or None,
            # an empty object is no dataset, as it always was
            dataset=Dataset.from_spec(dataset, f"{where}.dataset") if dataset else None,
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "data": self.data,
            "dataset": self.dataset.to_json() if self.dataset else None,
        }


@dataclass(frozen=True)
class Generation:
    """The sampling of every benchmark: n samples per item, temperature, top_p, max tokens."""

    n: int
    temperature: float
    max_new_tokens: int
    top_p: float = 1.0

    @classmethod
    def from_spec(cls, data: dict, where: str) -> Generation:
        _require(data, ("n", "temperature", "max_new_tokens"), where)
        return cls(
            n=_get(data, "n", "an integer", where),
            temperature=float(_get(data, "temperature", "a number", where)),
            max_new_tokens=_get(data, "max_new_tokens", "an integer", where),
            top_p=float(_get(data, "top_p", "a number", where, 1.0)),
        )

    def to_json(self) -> dict:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "max_new_tokens": self.max_new_tokens,
        }


@dataclass(frozen=True)
class VllmSettings:
    """The vllm backend's engine (``evaluate.vllm``); a setting not given keeps vLLM's own."""

    memory_share: float | None = None
    kv_cache_gib: float | None = None
    max_model_len: int | None = None
    tensor_parallel: int | None = None

    @classmethod
    def from_spec(cls, data: dict, where: str) -> VllmSettings:
        unknown = sorted(set(data) - set(VLLM_KEYS))
        if unknown:
            raise InputError(f"{where}: unknown key(s) {unknown}; known: {sorted(VLLM_KEYS)}")
        return cls(
            memory_share=_get(data, "memory_share", "a number", where),
            kv_cache_gib=_get(data, "kv_cache_gib", "a number", where),
            max_model_len=_get(data, "max_model_len", "an integer", where),
            tensor_parallel=_get(data, "tensor_parallel", "an integer", where),
        )

    def to_json(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Extrapolate:
    """The whole-weight baseline's source: W_from + alpha (W_to − W_from)."""

    start: str  # "from"
    end: str  # "to"
    alpha: float

    def to_json(self) -> dict:
        return {"from": self.start, "to": self.end, "alpha": self.alpha}


@dataclass(frozen=True)
class ModelEntry:
    """One model of a job: its key, its labels in the tables (as given) and its source."""

    key: str | None = None
    model_kind: str | None = None
    step: int | None = None
    k: str | int | None = None
    # A label, and the λ of a rank-k model (1.0 where not given).
    lam: float | None = None
    variant: str | None = None
    folder: str | None = None
    factors: str | None = None
    rank: str | None = None
    scale: str = "frobenius"
    rest: str = "base"
    rest_from: str | None = None
    extrapolate: Extrapolate | None = None

    @classmethod
    def from_spec(cls, data: dict, source: str) -> ModelEntry:
        """A model entry of a spec; errors name ``source`` and the model's key."""
        _require(data, (), source, "a model")
        key = _get(data, "key", "a string", source)
        where = f"{source}: model {key or '?'!r}"
        labels = {
            "model_kind": _get(data, "model_kind", "a string", where),
            "step": _get(data, "step", "an integer", where),
            "k": _get(data, "k", "a string or an integer", where),
            "lam": _get(data, "lam", "a number", where),
            "variant": _get(data, "variant", "a string", where),
        }
        rank = _get(data, "rank", "a string or an integer", where)
        entry = cls(
            key=key,
            **labels,
            folder=_get(data, "folder", "a string", where) or None,
            factors=_get(data, "factors", "a string", where) or None,
            rank=None if rank is None else str(rank),
            scale=_get(data, "scale", "a string", where, "frobenius"),
            rest=_get(data, "rest", "a string", where) or "base",
            rest_from=_get(data, "rest_from", "a string", where) or None,
            extrapolate=_extrapolate(data, where),
        )
        if entry.source_problem:
            raise InputError(f"{where}: {entry.source_problem}")
        return entry

    @property
    def source_problem(self) -> str | None:
        """What makes this entry's source unreadable (None: a folder, factors with a rank, or
        an extrapolation)."""
        if self.extrapolate is None and self.factors and self.rank is None:
            return "'factors' given without 'rank'"
        if not (self.extrapolate or self.factors or self.folder):
            return "gives none of 'folder', 'factors', 'extrapolate'"
        return None

    @property
    def labels(self) -> dict:
        """{model_kind, step, k, lam, variant} as given (null where not)."""
        return {key: getattr(self, key) for key in MODEL_LABELS}

    def to_json(self) -> dict:
        out = {"key": self.key, **self.labels}
        if self.folder:
            out["folder"] = self.folder
        if self.factors:
            out.update(factors=self.factors, rank=self.rank, scale=self.scale, rest=self.rest)
            if self.rest_from:
                out["rest_from"] = self.rest_from
        if self.extrapolate:
            out["extrapolate"] = self.extrapolate.to_json()
        return out


def _extrapolate(data: dict, where: str) -> Extrapolate | None:
    e = _get(data, "extrapolate", "an object", where)
    if not e:
        return None
    _require(e, ("from", "to", "alpha"), where, "'extrapolate'")
    inner = f"{where}: extrapolate"
    return Extrapolate(
        _get(e, "from", "a string", inner),
        _get(e, "to", "a string", inner),
        float(_get(e, "alpha", "a number", inner)),
    )


# --- the job ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoringJob:
    """Every model of ``models`` scored on every benchmark of ``benchmarks``, in one process."""

    base: str
    benchmarks: tuple[Benchmark, ...]
    models: tuple[ModelEntry, ...]
    run: str | None = None
    backend: str = "hf"
    # None: each task YAML's own sampling
    generation: Generation | None = None
    chat_template: bool = False
    log_samples: bool = False
    batch_size: int | str = 64  # lm-eval's: a number or "auto"
    device: str = "cpu"
    dtype: str = "auto"
    gpus: int = 1
    trust_remote_code: bool = False
    tokenizer: str | None = None  # None: the base's
    limit: int | float | None = None  # the first items of each benchmark
    item_limit: int | None = None  # a seeded subset of those, the same for every model
    seed: int = 0
    vllm: VllmSettings = field(default_factory=VllmSettings)

    @classmethod
    def from_spec(cls, data: dict, source: str) -> ScoringJob:
        """The job a scoring spec (the JSON of ``rldynamics evaluate --spec``) describes;
        ``source`` names the spec in errors (its file, or how it was given)."""
        _require(data, ("base", "benchmarks", "models"), source, "scoring spec")
        backend = _get(data, "backend", "a string", source, "hf")
        if backend not in BACKENDS:
            raise InputError(
                f"{source}: evaluate.backend must be one of {BACKENDS}, got {backend!r}"
            )
        generation = _get(data, "generation", "an object", source)
        return cls(
            base=_get(data, "base", "a string", source),
            benchmarks=tuple(
                Benchmark.from_spec(b, f"{source}: benchmarks[{i}]")
                for i, b in enumerate(_get(data, "benchmarks", "a list", source))
            ),
            models=_models(_get(data, "models", "a list", source), source),
            run=_get(data, "run", "a string", source),
            backend=backend,
            # an empty object is the YAML's sampling, as it always was
            generation=Generation.from_spec(generation, f"{source}: generation")
            if generation
            else None,
            chat_template=_get(data, "chat_template", "true or false", source, False),
            log_samples=_get(data, "log_samples", "true or false", source, False),
            batch_size=_get(data, "batch_size", "a string or an integer", source, 64),
            device=_get(data, "device", "a string", source, "cpu"),
            dtype=_get(data, "dtype", "a string", source, "auto"),
            gpus=_get(data, "gpus", "an integer", source, 1),
            trust_remote_code=_get(data, "trust_remote_code", "true or false", source, False),
            tokenizer=_get(data, "tokenizer", "a string", source) or None,
            limit=_get(data, "limit", "a number", source),
            item_limit=_get(data, "item_limit", "an integer", source),
            seed=_get(data, "seed", "an integer", source, 0),
            vllm=VllmSettings.from_spec(
                _get(data, "vllm", "an object", source, {}), f"{source}: evaluate.vllm"
            ),
        )

    @property
    def tokenizer_folder(self) -> str:
        return self.tokenizer or self.base

    def labels(self, model: ModelEntry) -> dict:
        """A model's labels in the tables: the run's, then the model's (``core.columns.LABELS``)."""
        return {"run": self.run, **model.labels}

    def to_json(self) -> dict:
        """The spec again (every setting stated): :meth:`from_spec` reads it back to this job."""
        out = {
            "run": self.run,
            "base": self.base,
            "benchmarks": [b.to_json() for b in self.benchmarks],
            "models": [m.to_json() for m in self.models],
            "backend": self.backend,
            "generation": self.generation.to_json() if self.generation else None,
        }
        out.update({name: getattr(self, name) for name in PLAIN_SETTINGS})
        out["vllm"] = self.vllm.to_json()
        return out


def _models(entries: list, source: str) -> tuple[ModelEntry, ...]:
    models = []
    for i, data in enumerate(entries):
        _require(data, ("key",), f"{source}: models[{i}]")
        models.append(ModelEntry.from_spec(data, source))
    return tuple(models)
