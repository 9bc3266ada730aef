"""A real pretrained model through the import and the RL: SmolLM2-135M-Instruct (a 30-layer
Llama with tied embeddings and a chat template) from its Q4_1 GGUF file, then a few GRPO steps
on the rl task with the chat template, graded by the math grader, saved as bf16 checkpoints."""

import json
import re

import pytest
import yaml
from safetensors import safe_open

from rldynamics.checkpoints.rl import graded_reward, prompt_rows
from rldynamics.core.errors import InputError
from rldynamics.models.gguf_import import gguf_header, import_gguf, resolve_gguf
from rldynamics.models.rl_task import addition_splits
from tests.conftest import REPO, SMOLLM2_GGUF

DEFAULT_PATTERN = yaml.safe_load((REPO / "config/smollm2.yaml").read_text())["decompose"]["pattern"]


def tensor_dtypes(folder):
    dtypes = {}
    for path in folder.glob("*.safetensors"):
        with safe_open(str(path), "pt") as handle:
            for name in handle.keys():
                dtypes[name] = handle.get_slice(name).get_dtype()
    return dtypes


@pytest.mark.parametrize(
    "content",
    [b"PK\x03\x04 a zip, not a model", b"GGUF\x03\x00\x00\x00 then nothing that parses"],
    ids=["not-gguf", "truncated-gguf"],
)
def test_a_file_that_is_not_a_readable_gguf_is_refused_naming_it(tmp_path, content):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(content)
    out = tmp_path / "base"
    with pytest.raises(InputError, match=re.escape(str(bad))):
        import_gguf(str(bad), out)
    assert not out.exists()
    assert not list(tmp_path.glob(".base.*")), "a half-written folder was left behind"


def test_a_missing_package_resource_is_named(tmp_path):
    with pytest.raises(InputError, match="no_such_package_xyz"):
        resolve_gguf("package:no_such_package_xyz/model.gguf")
    with pytest.raises(InputError, match="not found"):
        gguf_header(tmp_path / "absent.gguf")


def test_gguf_import_is_an_ordinary_bf16_llama_folder(smollm2_base):
    config = json.loads((smollm2_base / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 30
    assert config["tie_word_embeddings"] is True
    dtypes = tensor_dtypes(smollm2_base)
    assert set(dtypes.values()) == {"BF16"}
    # The Llama layer names the decomposition pattern selects: 7 matrices × 30 layers.
    matrices = [name for name in dtypes if re.match(DEFAULT_PATTERN, name)]
    assert len(matrices) == 210
    assert "model.layers.29.mlp.down_proj.weight" in matrices
    provenance = json.loads((smollm2_base / "provenance.json").read_text())
    assert provenance["source"] == SMOLLM2_GGUF
    assert re.fullmatch(r"[0-9a-f]{64}", provenance["sha256"])
    assert provenance["conversion"].startswith("dequantized from Q4_1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_base)
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], tokenize=False, add_generation_prompt=True
    )
    assert chat.endswith("<|im_start|>assistant\n") and "What is 2 + 3?" in chat


def test_rl_task_splits_are_disjoint_and_seeded():
    train, test = addition_splits(19, 300, 100, seed=5)
    assert {(i["a"], i["b"]) for i in train}.isdisjoint({(i["a"], i["b"]) for i in test})
    assert (train, test) == addition_splits(19, 300, 100, seed=5)
    assert all(int(i["answer"]) == i["a"] + i["b"] and str(i["a"]) in i["question"] for i in test)
    with pytest.raises(InputError, match="exceeds"):
        addition_splits(3, 10, 10, seed=0)


def test_graded_reward_reads_chat_completions_with_the_math_grader():
    reward = graded_reward("boxed")
    completions = [
        [{"role": "assistant", "content": "The answer is 17."}],
        [{"role": "assistant", "content": "We add them: \\boxed{17}"}],
        [{"role": "assistant", "content": "17"}],  # no box, no statement: not an answer
        "The answer is 18.",
    ]
    assert reward(completions, answer=["17"] * 4) == [1.0, 1.0, 0.0, 0.0]
    rows = prompt_rows([{"question": "What is 1 + 2?", "answer": "3"}], chat_template=True)
    assert rows == [{"prompt": [{"role": "user", "content": "What is 1 + 2?"}], "answer": "3"}]
