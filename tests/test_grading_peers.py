"""Agreement with other people's graders on the 534 labelled cases of ../shared/reference.

Every case goes through the hooks lm-eval calls: the row through ``process_docs``
(``utils.docs_*``), the completion through ``process_results`` (``utils.score_*``) as lm-eval
0.4 passes it, ``[filtered_responses]``. Cases judged wrongly labelled are listed in
``tests/data/grading_peer_mislabelled.tsv`` with a reason; they are left out of both sides of
the agreement and printed, never skipped silently.
"""

import hashlib
import json
import time
from collections import Counter

import pytest

from tests.conftest import REPO, task_hooks

CASES = REPO.parent / "shared/reference/grading_peer_cases.jsonl"
MISLABELLED = REPO / "tests/data/grading_peer_mislabelled.tsv"
FORM = {"math": "boxed", "aime": "boxed", "gsm8k": "gsm8k", "mc": "choice"}
OVERALL_MIN, PER_KIND_MIN, MAX_DISAGREEMENTS = 0.99, 0.90, 5


def mislabelled(lines: list[str]) -> dict[int, str]:
    """Line number → reason; the line's checksum must match, so an edited file is noticed."""
    excluded = {}
    for row in MISLABELLED.read_text().splitlines():
        if not row.strip() or row.startswith("#"):
            continue
        number, checksum, reason = row.split("\t")
        line = lines[int(number) - 1]
        actual = hashlib.sha256(line.encode()).hexdigest()[:12]
        assert actual == checksum, f"{CASES}:{number} changed since it was judged: {line[:80]}"
        excluded[int(number)] = reason
    assert len(excluded) <= 10, "at most 10 cases may be judged wrongly labelled"
    return excluded


def row_of(case: dict) -> dict:
    if case["kind"] == "gsm8k":  # GSM8K's gold is the end of a worked solution
        return {"question": "q", "answer": f"(solution)\n#### {case['gold']}"}
    return {"question": "q", "answer": case["gold"]}


@pytest.mark.skipif(not CASES.exists(), reason="../shared/reference is not beside the checkout")
def test_agreement_with_peer_graders(capsys):
    from datasets import Dataset

    utils = task_hooks()
    lines = CASES.read_text().splitlines()
    cases = [json.loads(line) for line in lines]
    excluded = mislabelled(lines)
    docs = {}
    for kind, form in FORM.items():
        numbers = [i + 1 for i, c in enumerate(cases) if c["kind"] == kind]
        rows = Dataset.from_list([row_of(cases[n - 1]) for n in numbers])
        docs.update(zip(numbers, getattr(utils, f"docs_{form}")(rows)))

    verdicts, started = {}, time.process_time()
    for number, case in enumerate(cases, 1):
        score = getattr(utils, f"score_{FORM[case['kind']]}")
        verdicts[number] = score(docs[number], [[case["output"]]])["acc"] == 1.0
    seconds = time.process_time() - started

    by_kind, by_source, total = Counter(), Counter(), Counter()
    misses = []
    for number, case in enumerate(cases, 1):
        if number in excluded:
            continue
        agree = verdicts[number] == case["expected"]
        for counter, key in ((by_kind, case["kind"]), (by_source, case["source"])):
            counter[key, agree] += 1
        total[agree] += 1
        if not agree:
            misses.append((number, case))

    def share(counter, key):
        right, wrong = counter[key, True], counter[key, False]
        return right, right + wrong

    agreed, counted = total[True], total[True] + total[False]
    report = [
        f"\ngrading peer cases: {agreed}/{counted} = {agreed / counted:.1%} agree "
        f"({len(excluded)} judged wrongly labelled, left out); "
        f"grading all {len(cases)} took {seconds:.1f} s of CPU on one core",
        "by kind:",
    ]
    for kind in FORM:
        right, n = share(by_kind, kind)
        report.append(f"  {kind:6} {right:4}/{n:<4} {right / n:6.1%}")
    report.append("by source:")
    for source in sorted({c["source"] for c in cases}):
        right, n = share(by_source, source)
        if n:
            report.append(f"  {right:4}/{n:<4} {source}")
    report.append("judged wrongly labelled (left out of both sides):")
    for number, reason in sorted(excluded.items()):
        report.append(f"  line {number} [{cases[number - 1]['kind']}]: {reason}")
    report.append("disagreements:")
    for number, case in misses:
        report.append(
            f"  line {number} [{case['kind']}] peer says {case['expected']}, gold "
            f"{case['gold']!r}, output …{case['output'][-70:]!r}"
        )
    with capsys.disabled():
        print("\n".join(report))

    assert agreed / counted >= OVERALL_MIN, "\n".join(report)
    assert len(misses) <= MAX_DISAGREEMENTS, "\n".join(report)
    for kind in FORM:
        right, n = share(by_kind, kind)
        assert right / n >= PER_KIND_MIN, f"{kind}: {right}/{n}\n" + "\n".join(report)
