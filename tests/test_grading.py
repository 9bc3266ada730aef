"""Hand-written items in each benchmark's format: right, wrong, equivalent, malformed."""

import pytest

from rldynamics.grading import (
    extract_answer,
    is_equivalent,
    normalize_doc,
    pass_at_k,
    pass_ks,
    score_item,
)


def verdict(completion, gold, form):
    return is_equivalent(extract_answer(completion, form), gold, form)


MATH_CASES = [
    # (completion, gold, right?)
    ("The sum is 12, so the answer is \\boxed{12}.", "12", True),
    ("\\boxed{13}", "12", False),
    ("We get \\boxed{\\frac{1}{2}}", "\\frac12", True),
    ("Thus \\boxed{0.5}", "\\frac{1}{2}", True),
    ("\\boxed{\\dfrac{\\sqrt{2}}{2}}", "\\frac{\\sqrt2}{2}", True),
    ("First \\boxed{3} then corrected: \\boxed{4}", "4", True),
    ("First \\boxed{4} then corrected: \\boxed{3}", "4", False),
    ("\\boxed{x^2 + 1}", "1+x^2", True),
    ("\\boxed{(1, 2)}", "(1,2)", True),
    ("\\boxed{\\{1, 2\\}}", "\\{2,1\\}", True),
    ("The answer is 12.", "12", False),  # no box: malformed for this form
    ("\\boxed{12", "12", False),  # unbalanced brace: malformed
    ("\\boxed{}", "12", False),
    ("\\boxed{\\text{(B)}}", "B", True),
    ("\\boxed{2\\pi}", "2\\pi", True),
    ("\\boxed{6.28}", "2\\pi", False),
    ("\\boxed{{12}}", "12", True),
    ("\\fbox{7}", "7", True),
]

AIME_CASES = [
    ("... so m+n = \\boxed{073}", "73", True),
    ("\\boxed{73}", "73", True),
    ("\\boxed{72}", "73", False),
    ("\\boxed{1,000}", "1000", True),
    ("I cannot solve this.", "73", False),
]

GSM8K_CASES = [
    ("She pays 3 * 24 = 72 dollars.\n#### 72", "72", True),
    ("The total is \\boxed{72}.", "72", True),
    ("So the answer is 1,234 apples.", "1234", True),
    ("She has 18 left, then buys 4 more: 22", "18", False),
    ("#### 72.00", "72", True),
    ("no number at all", "72", False),
]

CHOICE_CASES = [
    ("Comparing the options, the answer is \\boxed{C}", "C", True),
    ("\\boxed{(B)}", "B", True),
    ("The answer is (D).", "D", True),
    ("Answer: A", "A", True),
    ("\\boxed{B}", "C", False),
    ("\\boxed{E}", "E", False),  # not an option letter: malformed
    ("I think it is the second one.", "B", False),
]

PLAIN_CASES = [
    ("125", "125", True),
    (" 125\n99+1=", "125", True),
    ("0125", "125", True),
    ("124", "125", False),
    ("", "125", False),
    ("12a", "125", False),
]


@pytest.mark.parametrize("completion, gold, right", MATH_CASES)
def test_math_boxed(completion, gold, right):
    assert verdict(completion, gold, "boxed") is right


@pytest.mark.parametrize("completion, gold, right", AIME_CASES)
def test_aime_integers(completion, gold, right):
    assert verdict(completion, gold, "boxed") is right


@pytest.mark.parametrize("completion, gold, right", GSM8K_CASES)
def test_gsm8k(completion, gold, right):
    assert verdict(completion, gold, "gsm8k") is right


@pytest.mark.parametrize("completion, gold, right", CHOICE_CASES)
def test_multiple_choice(completion, gold, right):
    assert verdict(completion, gold, "choice") is right


@pytest.mark.parametrize("completion, gold, right", PLAIN_CASES)
def test_toy_plain(completion, gold, right):
    assert verdict(completion, gold, "plain") is right


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(4, 0, 1) == 0.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)
    assert pass_at_k(4, 3, 2) == 1.0
    assert pass_ks(32) == [1, 2, 4, 8, 16, 32] and pass_ks(6) == [1, 2, 4, 6] and pass_ks(1) == [1]


def test_score_item_reports_avg_at_n_and_pass_at_k():
    scores = score_item(["\\boxed{4}", "\\boxed{5}", "\\boxed{4}", "none"], "4", "boxed", [1, 2, 4])
    assert scores["acc"] == pytest.approx(0.5)
    assert scores["pass@1"] == pytest.approx(0.5)
    assert scores["pass@4"] == 1.0


def test_gsm8k_gold_and_gpqa_documents_are_normalized():
    doc = normalize_doc({"question": "q?", "answer": "work...\n#### 1,200"}, "gsm8k")
    assert doc == {"question": "q?", "answer": "1200"}
    gpqa = {
        "Question": "Which?",
        "Correct Answer": "right",
        "Incorrect Answer 1": "w1",
        "Incorrect Answer 2": "w2",
        "Incorrect Answer 3": "w3",
    }
    first, again = normalize_doc(gpqa, "choice"), normalize_doc(gpqa, "choice")
    assert first == again  # the shuffle is deterministic per question
    letter = first["answer"]
    assert f"({letter}) right" in first["question"]
    with pytest.raises(KeyError, match="question"):
        normalize_doc({"prompt": "x", "answer": "1"}, "boxed")
