"""RL from any HF base folder: TRL's GRPOTrainer with a verifiable reward.

The toy world and a real base (a GGUF import, a local folder) run the same function; what
differs is only data: the prompts (plain text, or a user turn of the model's chat template),
the reward (the toy's first-line match, or the project's math grader) and the dtype the
checkpoints are stored in (the papers' series are bf16; the toy keeps float32). Training
itself runs in float32 on CPU; a bf16 checkpoint is the float32 weights rounded once at save.

The trainer writes ``checkpoint-<step>/`` folders the way any TRL run does; the pipeline then
collects them with the same code that collects a user's own TRL output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rldynamics.core.errors import InputError


@dataclass
class RLConfig:
    steps: int = 200
    save_every: int = 10
    lr: float = 1e-5
    batch_size: int = 64
    num_generations: int = 8
    temperature: float = 1.0
    max_completion_length: int = 6
    loss_type: str = "dapo"


def completion_text(completion) -> str:
    """A completion as text: TRL passes a plain string, or the assistant turn of a chat."""
    if isinstance(completion, str):
        return completion
    return "".join(turn.get("content", "") for turn in completion)


def graded_reward(form: str) -> Callable:
    """A reward of 1 for a completion the project's math grader marks right, else 0."""
    from rldynamics.core.grading import verdicts

    def reward(completions: list, answer: list[str], **_) -> list[float]:
        return [
            float(verdicts([completion_text(c)], str(ref), form)[0])
            for c, ref in zip(completions, answer)
        ]

    reward.__name__ = f"graded_{form}"
    return reward


def prompt_rows(items: list[dict], chat_template: bool) -> list[dict]:
    """TRL's dataset rows: the question as plain text, or as a user turn of the chat."""
    rows = []
    for item in items:
        prompt = item["question"]
        if chat_template:
            prompt = [{"role": "user", "content": prompt}]
        rows.append({"prompt": prompt, "answer": item["answer"]})
    return rows


def round_checkpoint(folder: Path, dtype) -> None:
    """Store a saved checkpoint's floating-point weights in ``dtype`` (each file atomically)."""
    from safetensors.torch import load_file, save_file

    from rldynamics.core.io import atomic_path

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise InputError(f"{folder}: the trainer saved no safetensors weights")
    for path in files:
        tensors = load_file(str(path))
        rounded = {
            name: (t.to(dtype) if t.is_floating_point() else t).contiguous()
            for name, t in tensors.items()
        }
        with atomic_path(path) as tmp:
            save_file(rounded, str(tmp), metadata={"format": "pt"})
    config_path = folder / "config.json"
    if config_path.exists():
        config = json.loads(config_path.read_text())
        config["dtype"] = str(dtype).removeprefix("torch.")
        with atomic_path(config_path) as tmp:
            tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def rounding_callback(dtype):
    """A trainer callback: after each save, round ``checkpoint-<step>/`` to ``dtype``."""
    from transformers import TrainerCallback

    class RoundCheckpoints(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            round_checkpoint(Path(args.output_dir) / f"checkpoint-{state.global_step}", dtype)
            return control

    return RoundCheckpoints()


def train_grpo(
    base_dir: str | Path,
    items: list[dict],
    out: str | Path,
    rl: RLConfig,
    seed: int,
    reward: Callable,
    threads: int | None = None,
    chat_template: bool = False,
    checkpoint_dtype: str = "float32",
) -> None:
    """Run GRPO from the base folder; ``out`` receives TRL's ``checkpoint-<step>`` folders.

    ``items``: {question, answer}; ``reward(completions, answer=...)`` scores each completion.
    """
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer  # heavy imports, only where RL runs

    from rldynamics.core.io import atomic_path

    if threads:
        torch.set_num_threads(threads)
    if not hasattr(torch, checkpoint_dtype) or not isinstance(
        getattr(torch, checkpoint_dtype), torch.dtype
    ):
        raise InputError(f"checkpoint dtype {checkpoint_dtype!r} is not a torch dtype")
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if chat_template and not tokenizer.chat_template:
        raise InputError(f"{base_dir}: chat_template is set but the tokenizer has none")
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    dataset = Dataset.from_list(prompt_rows(items, chat_template))
    callbacks = []
    if checkpoint_dtype != "float32":
        callbacks.append(rounding_callback(getattr(torch, checkpoint_dtype)))
    with atomic_path(out, directory=True) as tmp:
        args = GRPOConfig(
            output_dir=str(tmp),
            max_steps=rl.steps,
            save_steps=rl.save_every,
            save_only_model=True,
            learning_rate=rl.lr,
            lr_scheduler_type="constant",
            per_device_train_batch_size=rl.batch_size,
            num_generations=rl.num_generations,
            temperature=rl.temperature,
            max_completion_length=rl.max_completion_length,
            loss_type=rl.loss_type,
            gradient_checkpointing=False,
            use_cpu=True,
            bf16=False,
            logging_steps=max(1, rl.save_every),
            report_to="none",
            seed=seed,
            data_seed=seed,
            disable_tqdm=False,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=reward,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=callbacks or None,
        )
        trainer.train()
