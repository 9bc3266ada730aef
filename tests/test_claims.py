"""Claims: the papers' numbers file, verdicts off the whole interval, numbers from items, the
claims table of the reduced toy run, re-scoring from stored completions, the report."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from rldynamics.claims import derived as claims
from rldynamics.core.errors import InputError
from rldynamics.core.grading import GRADER_VERSION
from rldynamics.evaluate import items
from tests.conftest import REPO

PAPER_CLAIMS = REPO / "workflow/data/paper_claims.csv"
REFERENCE = REPO.parent / "shared/reference/paper_numbers.csv"


def test_verdict_reads_the_whole_interval():
    assert claims.verdict(">=", 99.17, 0.17, 99.2, 99.9) == "reproduced"
    assert claims.verdict(">=", 99.17, 0.17, 80.0, 98.9) == "not reproduced"
    assert claims.verdict(">=", 99.17, 0.17, 95.0, 100.0) == "inconclusive"
    assert claims.verdict("<=", 1.0, 0.0, 0.2, 0.9) == "reproduced"
    assert claims.verdict("≈", 53.38, 2, 52.0, 54.0) == "reproduced"
    assert claims.verdict("≈", 53.38, 2, 56.0, 58.0) == "not reproduced"
    assert claims.verdict("≈", 53.38, 2, 50.0, 54.0) == "inconclusive"
    assert claims.verdict("≈", 53.38, 2, float("nan"), 54.0) == "inconclusive"
    # a bound on the line is on it, whatever the rounding of paper value ± margin
    assert claims.verdict("≈", 0.7, 0.1, 0.8, 1.0) == "inconclusive"
    assert claims.verdict("≈", 0.7, 0.1, 0.6, 0.8) == "reproduced"
    assert claims.verdict(">=", 0.914, 0.014, 0.9, 0.95) == "reproduced"
    assert claims.verdict("<=", 1.0, 0.0, 1.0, 1.2) == "inconclusive"


def test_paper_claims_file_is_complete_and_agrees_with_the_reference_numbers():
    paper = claims.read_paper_claims(PAPER_CLAIMS)
    assert paper["citation"].str.contains("arXiv:").all()
    # the claims the issue names are all there
    for claim_id in [
        "rank1_recovery",
        "recovery_rank_k",
        "trajectory_r2",
        "trajectory_r2_control",
        "alpharl_speedup",
        "lambda_peak",
        "bf16_sparsity",
        "principal_angle",
        "spectral_drift",
        "alpharl_retention_40",
    ]:
        assert claim_id in set(paper["claim_id"])
    reference = pd.read_csv(REFERENCE)

    def ref(setting, benchmark="Avg", model="Qwen3-8B-Base", algorithm="DAPO"):
        rows = reference[
            (reference["setting"] == setting)
            & (reference["benchmark"] == benchmark)
            & (reference["model"] == model)
            & (reference["algorithm"] == algorithm)
        ]
        assert len(rows) == 1, (setting, benchmark)
        return float(rows["value"].iloc[0])

    by_id = paper.set_index("claim_id")["paper_value"]
    full = ref("full")
    for pct in (5, 10, 20, 30, 40, 50):
        expected = 100 * ref(f"window {pct}% + AlphaRL") / full
        assert by_id[f"alpharl_retention_{pct}"] == pytest.approx(expected, abs=0.006)
    assert by_id["final_accuracy"] == full
    assert by_id["alpharl40_accuracy"] == ref("window 40% + AlphaRL")
    assert by_id["rank1_recovery"] == ref("rank-1", "recovery", "all", "all")
    assert by_id["trajectory_r2"] == ref("trajectory", "R2", "all", "all")
    assert by_id["alpharl_speedup"] == ref("AlphaRL", "speedup", "all", "all")
    assert by_id["bf16_sparsity"] == ref("final", "bf16 update sparsity", "Qwen3-8B-Base")


def test_paper_claims_without_citation_or_margin_are_refused(tmp_path):
    table = pd.read_csv(PAPER_CLAIMS)
    bad = table.copy()
    bad.loc[0, "citation"] = ""
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="row 2 .*no citation"):
        claims.read_paper_claims(tmp_path / "bad.csv")
    bad = table.copy()
    bad.loc[0, "margin"] = np.nan
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="needs a margin"):
        claims.read_paper_claims(tmp_path / "bad.csv")


def _verdicts(kind, step, right, k=None, lam=None, variant=None, bench="toy"):
    return [
        {
            "run": "t",
            "model_kind": kind,
            "step": step,
            "k": k,
            "lam": lam,
            "variant": variant,
            "benchmark": bench,
            "item": i,
            "doc_hash": "",
            "n_samples": 1,
            "n_correct": int(c),
            "grader": GRADER_VERSION,
        }
        for i, c in enumerate(right)
    ]


def test_recovery_and_its_interval_come_from_items():
    rng = np.random.default_rng(0)
    n = 300
    base = rng.random(n) < 0.3
    final = base | (rng.random(n) < 0.6)
    rank1 = np.where(rng.random(n) < 0.9, final, base)  # most of the gain
    rows = _verdicts("base", 0, base) + _verdicts("checkpoint", 10, final)
    rows += _verdicts("rank-k", 10, rank1, k="1", lam=1.0, variant="frobenius")
    ev = claims.Evidence(pd.DataFrame(rows), {"toy": "acc"}, n_boot=500, seed=0)
    table, numbers = claims.derived_numbers(ev, "t", None, final_step=10, lam=1.0)
    rec = numbers["recovery:1"]
    expected = (rank1.mean() - base.mean()) / (final.mean() - base.mean())
    assert rec["value"] == pytest.approx(expected)
    assert rec["ci_low"] < expected < rec["ci_high"] and rec["ci_high"] - rec["ci_low"] < 0.3
    assert rec["n_items"] == n
    acc = table[(table["quantity"] == "accuracy") & (table["benchmark"] == "toy")]
    assert len(acc) == 3


def test_recovery_is_undefined_when_the_gain_is_not_resolved():
    rng = np.random.default_rng(1)
    base = rng.random(40) < 0.5
    final = base.copy()
    final[:2] = ~final[:2]  # a gain that sampling cannot tell from 0
    rows = _verdicts("base", 0, base) + _verdicts("checkpoint", 10, final)
    rows += _verdicts("rank-k", 10, base, k="1", lam=1.0, variant="frobenius")
    ev = claims.Evidence(pd.DataFrame(rows), {"toy": "acc"}, n_boot=300, seed=0)
    _, numbers = claims.derived_numbers(ev, "t", None, final_step=10, lam=1.0)
    assert np.isnan(numbers["recovery:1"]["ci_low"])
    assert "undefined" in numbers["recovery:1"]["note"]
    paper = claims.read_paper_claims(PAPER_CLAIMS)
    table = claims.claims_table(paper, "t", numbers, [])
    row = table[table["claim_id"] == "rank1_recovery"].iloc[0]
    assert row["verdict"] == "inconclusive"


# --- the steps of derived_numbers, on tiny hand-made items ----------------------------------


def _right(n_right, n=20):
    """Verdicts of n items, the first n_right right (so models nest: a better one is right
    wherever a worse one is)."""
    return [1] * n_right + [0] * (n - n_right)


def _toy_evidence(rows, n_boot=200):
    return claims.Evidence(pd.DataFrame(rows), {"toy": "acc"}, n_boot=n_boot, seed=0)


def test_accuracy_numbers_per_benchmark_and_averaged():
    rows = _verdicts("base", 0, _right(4)) + _verdicts("checkpoint", 5, _right(8))
    rows += _verdicts("checkpoint", 10, _right(12))
    ev = _toy_evidence(rows)
    out, lookup = claims.accuracy_numbers(
        ev, "t", "base/step-0", "checkpoint/step-10", final_step=10
    )
    assert [(r["model"], r["benchmark"], r["value"]) for r in out] == [
        ("base/step-0", "toy", pytest.approx(0.2)),
        ("base/step-0", "average", pytest.approx(0.2)),
        ("checkpoint/step-5", "toy", pytest.approx(0.4)),
        ("checkpoint/step-5", "average", pytest.approx(0.4)),
        ("checkpoint/step-10", "toy", pytest.approx(0.6)),
        ("checkpoint/step-10", "average", pytest.approx(0.6)),
    ]
    assert {r["quantity"] for r in out} == {"accuracy"}
    assert all(r["n_items"] == 20 and r["n_samples"] == 20 for r in out)
    assert list(lookup) == ["accuracy_avg:final"]
    final = lookup["accuracy_avg:final"]
    assert final["value"] == pytest.approx(0.6) and final["checkpoints"] == "step-10"
    assert final["ci_low"] < 0.6 < final["ci_high"]


def _rank_k_rows(base=4, final=12):
    rows = _verdicts("base", 0, _right(base)) + _verdicts("checkpoint", 10, _right(final))
    rows += _verdicts("rank-k", 10, _right(10), k="1", lam=1.0, variant="frobenius")
    rows += _verdicts("rank-k", 10, _right(12), k="2", lam=1.0, variant="frobenius")
    rows += _verdicts("rank-k", 10, _right(5), k="1", lam=2.0, variant="frobenius")
    return rows


def test_rank_k_numbers_recover_the_gain_at_the_configured_lambda():
    ev = _toy_evidence(_rank_k_rows())
    out, lookup = claims.rank_k_numbers(
        ev, "t", "base/step-0", "checkpoint/step-10", final_step=10, lam=1.0
    )
    # per model: recovery and relative accuracy on toy, then averaged; the RL gain once
    assert [(r["quantity"], r["model"], r["benchmark"]) for r in out] == [
        ("recovery", "rank-k/step-10/k1/lam1/frobenius", "toy"),
        ("relative_accuracy", "rank-k/step-10/k1/lam1/frobenius", "toy"),
        ("recovery", "rank-k/step-10/k1/lam1/frobenius", "average"),
        ("relative_accuracy", "rank-k/step-10/k1/lam1/frobenius", "average"),
        ("rl_gain", "checkpoint/step-10", "average"),
        ("recovery", "rank-k/step-10/k2/lam1/frobenius", "toy"),
        ("relative_accuracy", "rank-k/step-10/k2/lam1/frobenius", "toy"),
        ("recovery", "rank-k/step-10/k2/lam1/frobenius", "average"),
        ("relative_accuracy", "rank-k/step-10/k2/lam1/frobenius", "average"),
    ]
    assert out[4]["value"] == pytest.approx(0.4)  # 0.6 − 0.2
    assert list(lookup) == [
        "relative:1:toy",
        "recovery:1",
        "relative:1:average",
        "relative:2:toy",
        "recovery:2",
        "relative:2:average",
    ]
    rec = lookup["recovery:1"]
    assert rec["value"] == pytest.approx((0.5 - 0.2) / 0.4)
    assert rec["variant"] == "rank 1" and rec["checkpoints"] == "base, step-10"
    assert rec["note"] == "" and rec["ci_low"] < 0.75 < rec["ci_high"]
    assert lookup["recovery:2"]["value"] == pytest.approx(1.0)
    assert lookup["relative:1:average"]["value"] == pytest.approx(0.5 / 0.6)
    assert lookup["relative:2:toy"]["checkpoints"] == "step-10"


def test_rank_k_model_numbers_leave_recovery_undefined_without_a_gain():
    ev = _toy_evidence(_rank_k_rows(base=12, final=12))
    out, lookup, gain = claims.rank_k_model_numbers(
        ev, "t", "rank-k/step-10/k1/lam1/frobenius", "base/step-0", "checkpoint/step-10", 10
    )
    assert gain["quantity"] == "rl_gain" and gain["value"] == 0.0
    assert gain["ci_low"] == gain["ci_high"] == 0.0
    rec = lookup["recovery:1"]
    assert np.isnan(rec["value"]) and np.isnan(rec["ci_low"]) and np.isnan(rec["ci_high"])
    assert "undefined" in rec["note"]
    assert lookup["relative:1:average"]["value"] == pytest.approx(10 / 12)
    assert len(out) == 4 and "rl_gain" not in {r["quantity"] for r in out}


def test_lambda_peak_numbers_find_the_best_lambda_of_rank_1():
    rows = _verdicts("base", 0, _right(4)) + _verdicts("checkpoint", 10, _right(12))
    for lam, right in [(2.0, 10), (0.5, 8), (1.0, 14)]:
        rows += _verdicts("rank-k", 10, _right(right), k="1", lam=lam, variant="frobenius")
    out, lookup = claims.lambda_peak_numbers(_toy_evidence(rows), "t", final_step=10)
    assert len(out) == 1 and out[0]["quantity"] == "lambda_peak"
    peak = lookup["lambda_peak"]
    assert peak["value"] == 1.0 and peak["model"] == "rank-k/k1"
    assert peak["note"] == "λ of the best average accuracy among 0.5, 1, 2"
    assert peak["checkpoints"] == "step-10" and peak["n_samples"] == 60
    single = _verdicts("base", 0, _right(4)) + _verdicts("checkpoint", 10, _right(12))
    single += _verdicts("rank-k", 10, _right(10), k="1", lam=1.0, variant="frobenius")
    assert claims.lambda_peak_numbers(_toy_evidence(single), "t", final_step=10) == ([], {})


def _alpharl_inputs():
    """A base, checkpoints at steps 2, 4 and 10 (final), and two windows (ending at steps 2
    and 4) of AlphaRL: variant "paper" keeps 100 % and 90 % of the final accuracy, variant
    "weak" 50 % and 60 %."""
    rows = _verdicts("base", 0, _right(4)) + _verdicts("checkpoint", 10, _right(10))
    rows += _verdicts("checkpoint", 2, _right(6)) + _verdicts("checkpoint", 4, _right(8))
    for variant, rights in [("paper", (10, 9)), ("weak", (5, 6))]:
        for step, right in zip((2, 4), rights):
            rows += _verdicts("alpharl", step, _right(right), variant=variant)
    windows = pd.DataFrame(
        [
            {
                "method": "alpharl",
                "variant": v,
                "window": w,
                "window_last_step": s,
                "speedup": x,
                "window_fraction": f,
            }
            for v in ("paper", "weak")
            for w, s, x, f in [("2", 4, 2.5, 0.4), ("1", 2, 5.0, np.nan)]
        ]
    )
    return _toy_evidence(rows), windows


def _paper_windows(ev, windows):
    paper = windows[windows["variant"] == "paper"]
    return claims.draw_alpharl_windows(
        ev, "alpharl", "paper", paper, "base/step-0", "checkpoint/step-10"
    )


def test_draw_alpharl_windows_sorts_the_windows_and_reads_retention():
    ev, windows = _alpharl_inputs()
    draw = _paper_windows(ev, windows)
    assert draw.preds == ["alpharl/step-2/paper", "alpharl/step-4/paper"]
    assert draw.ends == ["checkpoint/step-2", "checkpoint/step-4"]
    assert draw.speedups == [5.0, 2.5] and [w["window"] for w in draw.windows] == ["1", "2"]
    assert draw.avg_p == pytest.approx([0.5, 0.45, 0.3, 0.4, 0.5, 0.2])
    assert draw.ret_p == pytest.approx([1.0, 0.9])
    assert draw.ret_r.shape == (200, 2) and (draw.ret_r[:, 0] == 1.0).all()
    late = windows[windows["variant"] == "paper"].assign(window_last_step=[4, 6])
    with pytest.raises(InputError, match="alpharl paper or its checkpoint at window end step 6"):
        claims.draw_alpharl_windows(
            ev, "alpharl", "paper", late, "base/step-0", "checkpoint/step-10"
        )


def test_alpharl_window_numbers_report_retention_and_accuracy_per_window():
    ev, windows = _alpharl_inputs()
    out, lookup = claims.alpharl_window_numbers(
        ev, "t", _paper_windows(ev, windows), "checkpoint/step-10", final_step=10
    )
    assert [(r["quantity"], r["model"], r["note"]) for r in out] == [
        ("retention", "alpharl/step-2/paper", "alpharl, window 1"),
        ("retention", "alpharl/step-4/paper", "alpharl, window 2"),
    ]
    assert [r["value"] for r in out] == pytest.approx([1.0, 0.9])
    assert out[0]["n_samples"] == 40 and out[0]["variant"] == "paper"
    # only the window with a fraction of the run names claim numbers
    assert list(lookup) == [
        "retention:alpharl:40%:paper",
        "accuracy_avg:alpharl:40%:paper",
        "accuracy_avg:window:40%",
    ]
    assert lookup["retention:alpharl:40%:paper"]["checkpoints"] == "steps ≤ 4 of 10"
    assert lookup["accuracy_avg:alpharl:40%:paper"]["value"] == pytest.approx(0.45)
    assert lookup["accuracy_avg:alpharl:40%:paper"]["n_samples"] == 20
    end = lookup["accuracy_avg:window:40%"]
    assert end["value"] == pytest.approx(0.4) and end["model"] == "checkpoint/step-4"
    assert end["variant"] is None and end["checkpoints"] == "step-4"


def test_alpharl_speedup_numbers_take_the_best_window_at_96_percent():
    ev, windows = _alpharl_inputs()
    row, lookup = claims.alpharl_speedup_numbers(
        ev, "t", _paper_windows(ev, windows), "checkpoint/step-10"
    )
    # the shortest window keeps all of the final accuracy in every draw
    assert row["quantity"] == "speedup_at_96" and row["model"] == "alpharl"
    assert (row["value"], row["ci_low"], row["ci_high"]) == (5.0, 5.0, 5.0)
    assert row["note"] == (
        "alpharl; windows at speed-ups 5, 2.5; "
        "open-ended above: the shortest window already reaches 96 %"
    )
    assert row["n_samples"] == 60
    assert lookup == {"speedup:alpharl:paper": {**row, "checkpoints": "windows ending ≤ step 4"}}
    weak = claims.draw_alpharl_windows(
        ev,
        "alpharl",
        "weak",
        windows[windows["variant"] == "weak"],
        "base/step-0",
        "checkpoint/step-10",
    )
    row, _ = claims.alpharl_speedup_numbers(ev, "t", weak, "checkpoint/step-10")
    assert row["value"] == 1.0 and "1× where no window reaches 96 % (train fully)" in row["note"]


def test_alpharl_numbers_per_method_and_variant():
    ev, windows = _alpharl_inputs()
    args = ("base/step-0", "checkpoint/step-10", 10)
    out, lookup = claims.alpharl_numbers(ev, "t", windows, *args)
    assert [(r["quantity"], r["variant"]) for r in out] == [
        ("retention", "paper"),
        ("retention", "paper"),
        ("speedup_at_96", "paper"),
        ("retention", "weak"),
        ("retention", "weak"),
        ("speedup_at_96", "weak"),
    ]
    assert lookup["speedup:alpharl:paper"]["value"] == 5.0
    assert lookup["speedup:alpharl:weak"]["value"] == 1.0
    assert lookup["retention:alpharl:40%:weak"]["value"] == pytest.approx(0.6)
    assert claims.alpharl_numbers(ev, "t", None, *args) == ([], {})
    assert claims.alpharl_numbers(ev, "t", windows.iloc[:0], *args) == ([], {})


def test_derived_numbers_joins_the_steps_in_order():
    ev, windows = _alpharl_inputs()
    table, lookup = claims.derived_numbers(ev, "t", windows, final_step=10, lam=1.0)
    quantities = list(dict.fromkeys(table["quantity"]))
    assert quantities == ["accuracy", "retention", "speedup_at_96"]  # no rank-k models here
    assert list(lookup)[0] == "accuracy_avg:final" and list(lookup)[-1] == "speedup:alpharl:weak"
    with pytest.raises(InputError, match=r"lack the base or the final checkpoint \(step 12\)"):
        claims.derived_numbers(ev, "t", windows, final_step=12, lam=1.0)


def test_claims_table_marks_numbers_for_other_runs_not_applicable():
    numbers = {
        "recovery:1": {
            "value": 0.995,
            "ci_low": 0.992,
            "ci_high": 0.999,
            "n_items": 200,
            "n_samples": 600,
            "checkpoints": "base, step-10",
        },
        "update_sparsity": {
            "value": 0.5,
            "ci_low": 0.4,
            "ci_high": 0.6,
            "n_items": 14,
            "n_samples": None,
            "checkpoints": "step-10",
            "basis": "matrices",
        },
    }
    paper = claims.read_paper_claims(PAPER_CLAIMS)
    table = claims.claims_table(paper, "toy", numbers, ["paper"])
    assert list(table.columns[:16]) == claims.CLAIM_COLUMNS[:16]
    table = table.set_index("claim_id")
    assert table.loc["rank1_recovery", "verdict"] == "reproduced"
    assert table.loc["rank1_recovery", "value"] == pytest.approx(99.5)
    assert table.loc["bf16_sparsity", "verdict"] == "not applicable"  # a number for dapo only
    assert table.loc["bf16_sparsity", "value"] == pytest.approx(50.0)
    assert table.loc["alpharl_speedup", "verdict"] == "not applicable"  # this run lacks it
    on_dapo = claims.claims_table(paper, "dapo-qwen3-8b", numbers, []).set_index("claim_id")
    assert on_dapo.loc["bf16_sparsity", "verdict"] == "not reproduced"


# --- on the reduced toy run -----------------------------------------------------------------


@pytest.mark.slow
def test_claims_table_of_the_reduced_toy_run(finished_run):
    out = finished_run / "results/ci"
    table = pd.read_csv(out / "tables/claims.csv")
    assert list(table.columns[:16]) == claims.CLAIM_COLUMNS[:16]
    decided = table[table["verdict"] != "not applicable"]
    assert len(decided) >= 3
    # a recovery whose gain is not resolved is undefined (the reduced world's gain is small)
    undefined = decided["note"].fillna("").str.contains("undefined")
    assert (decided[undefined]["verdict"] == "inconclusive").all()
    decided = decided[~undefined]
    for column in ["paper_value", "value", "ci_low", "ci_high", "verdict"]:
        assert decided[column].notna().all(), column
    assert (decided["ci_low"] <= decided["value"] + 1e-9).all()
    assert (decided["value"] <= decided["ci_high"] + 1e-9).all()
    assert set(table["verdict"]) <= {
        "reproduced",
        "not reproduced",
        "inconclusive",
        "not applicable",
    }
    intervals = pd.read_csv(out / "tables/intervals.csv")
    assert {"accuracy", "recovery", "retention", "speedup_at_96", "lambda_peak"} <= set(
        intervals["quantity"]
    )
    assert (out / "figures/claims_forest.png").stat().st_size > 5000
    verdicts = pd.read_csv(out / "tables/items.csv.gz")
    results = pd.read_csv(out / "tables/results.csv")
    acc = results[results["metric"] == "acc"]
    assert len(verdicts) == len(acc) * 40  # every scored model, every item


@pytest.mark.slow
def test_rescoring_reuses_the_stored_completions(finished_run, tmp_path, monkeypatch):
    chunk = finished_run / "results/ci/eval/checkpoints/chunk-0"
    stored = pd.read_csv(f"{chunk}.csv")
    stored_items = pd.read_csv(f"{chunk}.items.csv")

    def no_generation(*args, **kwargs):
        raise AssertionError("re-scoring must not generate")

    import lm_eval

    monkeypatch.setattr(lm_eval, "simple_evaluate", no_generation)
    completions = f"{chunk}.completions.jsonl.gz"
    # the same grader gives back the stored verdicts and accuracies
    results, verdicts = items.rescore(
        completions, tmp_path / "same.csv", tmp_path / "same.items.csv"
    )
    assert verdicts["n_correct"].tolist() == stored_items["n_correct"].tolist()
    acc = results[results["metric"] == "acc"].reset_index(drop=True)
    assert np.allclose(acc["value"], stored[stored["metric"] == "acc"]["value"])
    with gzip.open(completions, "rt") as handle:
        records = [json.loads(line) for line in handle]
    assert {r["key"] for r in records} >= {"base"} and all(r["completions"] for r in records)
    # A changed grader (it also takes the answer with its trailing digit dropped, for one digit
    # that closes a right answer of two or more digits here) changes them.
    right = [r for r in records if r["completions"][0].strip() == r["answer"]]
    digit = next(r["answer"][-1] for r in right if r["answer"].rstrip(r["answer"][-1]))
    real = items.score_item

    def lenient(outs, gold, form, ks, choices=()):
        return real(
            [o.rstrip(digit) or o for o in outs] if gold.endswith(digit) else outs,
            gold,
            form,
            ks,
            choices,
        )

    monkeypatch.setattr(items, "score_item", lenient)
    results, changed = items.rescore(completions, tmp_path / "new.csv", tmp_path / "new.items.csv")
    assert len(changed) == len(stored_items)
    # exactly the right answers ending in that digit (read without it now) turned wrong
    turned = [
        r["answer"].endswith(digit)
        and bool(r["answer"].rstrip(digit))
        and r["completions"][0].strip() == r["answer"]
        for r in records
    ]
    assert any(turned)
    expected = stored_items["n_correct"].to_numpy() - np.array(turned, dtype=int)
    assert changed["n_correct"].tolist() == expected.tolist()
    new_acc = results[results["metric"] == "acc"]["value"].to_numpy()
    assert (new_acc <= acc["value"].to_numpy() + 1e-12).all() and new_acc.sum() < acc["value"].sum()


@pytest.mark.slow
def test_report_builds_without_rst_warnings(finished_run, tmp_path):
    from tests.conftest import snakemake

    report = tmp_path / "report.zip"
    proc = snakemake(finished_run, "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    for marker in ["(ERROR/", "(WARNING/", "Undefined substitution", "System Message"]:
        assert marker not in log, log[-3000:]
    assert report.stat().st_size > 10_000


def _claims_of(value, low, high, verdict="reproduced"):
    paper = claims.read_paper_claims(PAPER_CLAIMS)
    numbers = {
        "recovery:1": {
            "value": value,
            "ci_low": low,
            "ci_high": high,
            "n_items": 200,
            "n_samples": 600,
            "checkpoints": "base, step-10",
        }
    }
    return claims.claims_table(paper, "toy-seedX", numbers, [])


def test_seed_spread_beside_the_item_interval():
    from rldynamics.claims.readme_table import results_block
    from rldynamics.runs.seeds import merge_claims

    # two seeds whose intervals over items each clear 99 %, one that does not
    tables = [
        _claims_of(0.995, 0.991, 0.999),
        _claims_of(0.996, 0.992, 0.999),
        _claims_of(0.97, 0.95, 0.985),
    ]
    merged = merge_claims(tables, [1, 2, 3], "toy-seeds").set_index("claim_id")
    row = merged.loc["rank1_recovery"]
    assert row["seed_min"] == pytest.approx(97.0) and row["seed_max"] == pytest.approx(99.6)
    assert row["value"] == pytest.approx((99.5 + 99.6 + 97.0) / 3)
    assert row["basis"] == "seeds"  # the seeds spread beyond the typical interval over items
    assert row["verdict"] == "inconclusive"
    assert merged.loc["bf16_sparsity", "verdict"] == "not applicable"
    block = results_block(tables[0], merged.reset_index(), "note")
    line = next(t for t in block.splitlines() if "rank-1 update recovers" in t)
    assert "97.0 – 99.6" in line and "over seeds: inconclusive (seeds)" in line
    with pytest.raises(InputError, match="two seeds at least"):
        merge_claims(tables[:1], [1], "x")


def test_seed_configs_rename_the_run(tmp_path):
    import yaml

    from rldynamics.runs.seeds import seed_configs

    paths = seed_configs({"run": "toy", "seed": 1, "claims": {"seeds": [1, 2]}}, [1, 2], tmp_path)
    derived = [yaml.safe_load(p.read_text()) for p in paths]
    assert [(d["run"], d["seed"], d["claims"]["seeds"]) for d in derived] == [
        ("toy", 1, []),  # the run's own seed is the run itself
        ("toy-seed2", 2, []),
    ]
    with pytest.raises(InputError, match="at least two different seeds"):
        seed_configs({"run": "toy"}, [3, 3], tmp_path)


def test_each_run_fills_its_own_claims_block_of_the_readme():
    from rldynamics.claims.readme_table import replace_block

    readme = (
        "a\n<!-- claims:begin -->\nold toy\n<!-- claims:end -->\n"
        "b\n<!-- claims:smollm2:begin -->\nold smol\n<!-- claims:smollm2:end -->\nc\n"
    )
    filled = replace_block(readme, "new smol\n", "README.md", "smollm2")
    assert "old toy" in filled and "new smol" in filled and "old smol" not in filled
    filled = replace_block(filled, "new toy\n", "README.md")
    assert "new toy" in filled and "new smol" in filled and "old toy" not in filled
    with pytest.raises(InputError, match="claims:other:begin"):
        replace_block(readme, "x\n", "README.md", "other")


def test_the_seeds_backtests_are_pooled_with_their_coverage():
    from rldynamics.forecast.line import coverage
    from rldynamics.runs.seeds import merge_backtests

    def table(covered):
        windows = ["10", "20"][: len(covered)]
        return pd.DataFrame({"run": "r", "window": windows, "covered": covered})

    pooled = merge_backtests([table([True, False]), table([True, True])], [1, 2])
    assert list(pooled.columns) == ["seed", "run", "window", "covered"]
    assert list(pooled["seed"]) == [1, 1, 2, 2] and coverage(pooled) == (3, 4)
    with pytest.raises(InputError, match="2 backtest tables for 3 seeds"):
        merge_backtests([table([True]), table([False])], [1, 2, 3])


def test_pass_at_k_items_read_from_a_csv_of_integer_counts():
    """Verdicts as read back from items.csv (integer counts): the pass@k share of each item
    replaces its count (pandas 3 refused to write the shares into the integer column)."""
    verdicts = pd.DataFrame(
        {
            "benchmark": ["math"] * 3 + ["toy"],
            "model_kind": ["base"] * 4,
            "step": [0] * 4,
            "k": [None] * 4,
            "lam": [None] * 4,
            "variant": [None] * 4,
            "item": [0, 1, 2, 0],
            "n_samples": [4, 4, 4, 1],
            "n_correct": [0, 1, 3, 1],
        }
    )
    scored = claims.item_scores(verdicts, {"math": "pass@2", "toy": "acc"})
    assert list(scored["n_correct"]) == [0.0, 0.5, 1.0, 1.0]
    assert list(scored["n_samples"]) == [1, 1, 1, 1]
