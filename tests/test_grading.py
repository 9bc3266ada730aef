"""Hand-written items in each benchmark's format: right, wrong, equivalent, malformed."""

import pytest

from rldynamics.core.errors import InputError
from rldynamics.core.grading import (
    extract_answer,
    is_equivalent,
    pass_at_k,
    pass_ks,
    score_item,
)
from rldynamics.evaluate.benchmark_docs import normalize_doc, prompt
from tests.conftest import REPO, task_hooks


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
    ("The answer is 12.", "12", True),  # no box: an explicit statement is read (version 2)
    ("We need 12 more, but the total is 13", "12", False),  # no box, no statement: no answer
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
    assert first["choices"]["ABCD".index(letter)] == "right"
    assert f"({letter}) right" in prompt(first, "choice")
    with pytest.raises(InputError, match="question"):
        normalize_doc({"prompt": "x", "answer": "1"}, "boxed")


# --- reading rule, version 2 ----------------------------------------------------------------

READING_CASES = [
    # (completion, gold, form, right?)
    # Text after </think> is read first; the reasoning only when nothing follows it.
    ("<think>maybe \\boxed{3}</think>\nSo \\boxed{4}", "4", "boxed", True),
    ("<think>maybe \\boxed{3}</think>\nSo \\boxed{4}", "3", "boxed", False),
    ("<think>it is \\boxed{5}</think>\n", "5", "boxed", True),
    ("<think>it is \\boxed{5}", "5", "boxed", True),  # cut off inside the reasoning
    # Boxes that end the text, separated by commas, and/or, delimiters or labels: one answer.
    ("\\boxed{1},\\boxed{2},\\boxed{3}", "\\{1,2,3\\}", "boxed", True),
    ("roots: \\[ \\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}. \\]", "1,-2", "boxed", True),
    ("$x = \\boxed{3}$ or $x = \\boxed{-3}$", "x=3, x=-3", "boxed", True),
    # ... but a box followed by more reasoning and another box is corrected by the later box.
    ("first \\boxed{1}, then we check and find \\boxed{2}", "2", "boxed", True),
    ("first \\boxed{1}, then we check and find \\boxed{2}", "\\{1,2\\}", "boxed", False),
    # A "final answer" statement after every box is the last word.
    ("so \\boxed{255} more. Final Answer: The final answer is $10,455$.", "10455", "boxed", True),
    ("so \\boxed{255}. The answer is correct because it checks out.", "255", "boxed", True),
    # No box: the last explicit statement, bold or not, any case.
    ("Final Answer: The final answer is $14{,}916$. I hope it is correct.", "14916", "boxed", True),
    ("**Answer:** $\\frac{3}{4}$", "0.75", "boxed", True),
    ("ANSWER: 7", "7", "boxed", True),
    ("The answer is 6, no wait. The answer is 7.", "7", "boxed", True),
    ("The answer is 6, no wait. The answer is 7.", "6", "boxed", False),
    ("Final Answer: The largest $n$ is 34.", "34", "boxed", True),
    # \framebox and \fbox are boxes too.
    ("Answer: \\framebox{0}", "0", "boxed", True),
    ("\\framebox{100}", "100", "boxed", True),
    # MATH-style forms never fall back to the last number; a concluding sentence that ends
    # the text states its result (version 3) ...
    ("Therefore the probability is 2/3.", "2/3", "boxed", True),
    ("We found 2/3 earlier, but let me recheck the third case", "2/3", "boxed", False),
    ("Therefore the probability is 2/3. Next, consider the case n = 4", "2/3", "boxed", False),
    # ... GSM8K does, read as an expression rather than a digit run.
    ("The ratio is $\\frac{5}{6}$", "5/6", "gsm8k", True),
    ("$10^3$", "1000", "gsm8k", True),
    ("3+2", "5", "gsm8k", True),
    ("The proposed answer is: (- 1).", "-1", "gsm8k", True),
    ("Step one: 3 apples.\nSo 18 in total.\n#### 18", "18", "gsm8k", True),
]


@pytest.mark.parametrize("completion, gold, form, right", READING_CASES)
def test_reading_rule(completion, gold, form, right):
    assert verdict(completion, gold, form) is right


EULER_CASES = [
    # math-verify alone drops \mathrm{e} like a unit: these would all be graded right.
    ("\\boxed{2}", "2\\mathrm{e}", False),
    ("\\boxed{1}", "1 - \\frac{1}{\\mathrm{e}}", False),
    ("\\boxed{1 + \\frac{1}{e}}", "1 - \\frac{1}{\\mathrm{e}}", False),
    ("\\boxed{2e}", "2\\mathrm{e}", True),
    ("\\boxed{1 - e^{-1}}", "1 - \\frac{1}{\\mathrm{e}}", True),
    ("\\boxed{e^{2}}", "\\mathrm{e}^{2}", True),
    # e-notation golds (as some Minerva answers are written) are scientific notation.
    ("\\boxed{0.0015}", "1.5e-3", True),
    ("\\boxed{6.02 \\times 10^{23}}", "6.02e23", True),
    ("\\boxed{1.5 e}", "1.5e-3", False),
    # Units are still dropped where the benchmark means them.
    ("\\boxed{5}", "5\\mathrm{~cm}", True),
    ("\\boxed{28\\%}", "28", True),
]


@pytest.mark.parametrize("completion, gold, right", EULER_CASES)
def test_no_false_positives_from_euler_e_and_e_notation(completion, gold, right):
    assert verdict(completion, gold, "boxed") is right


CHOICES = ("Paris", "Lyon", "Marseille", "Nice")
CHOICE_READING = [
    ("**Answer:** A", "A"),
    ("*Answer:* B", "B"),
    ("ANSWER: B", "B"),
    ('So the capital is Paris.\n\nAnswer: "C"', "C"),
    ("Option C", "C"),
    ("Choice: (D)", "D"),
    ("\\boxed{\\textbf{C}}", "C"),
    ("\\boxed{(C) Marseille}", "C"),
    ("\\boxed{\\text{(B)}}", "B"),
    ("The answer is for sure D, it can't be A or B", "D"),
    ("**D) This is the correct answer**", "D"),
    ("A. Because B is not valid", "A"),
    ("It's not A, therefore I think it's B", "B"),
    # The option's text instead of its letter.
    ("The capital is \\boxed{Paris}", "A"),
    ("\\boxed{\\text{Nice}}", "D"),
    ("Answer: Lyon", "B"),
    # A final box wins over an answer statement in the reasoning, and vice versa.
    ("The answer is A. Hmm, no: (A) fails. \\boxed{C}", "C"),
    ("\\boxed{C} was my guess.\nAnswer: B", "B"),
    # "Option"/"Choice" mid-sentence is reasoning, not an answer; an article is not a letter.
    ("So \\boxed{C}. Let me double-check option B: it fails.", "C"),
    ("answer: a", "A"),
    ("The answer is a bit subtle.\n\\boxed{D}", "D"),
    # Nothing that names an option: no answer.
    ("I think it is the second one.", None),
    ("the answer is a bit subtle", None),
    ("The options are 1, 2, 3, 4", None),
    ("\\boxed{Bordeaux}", None),
]


@pytest.mark.parametrize("completion, letter", CHOICE_READING)
def test_multiple_choice_reading(completion, letter):
    assert extract_answer(completion, "choice", CHOICES) == letter


def test_gpqa_prompt_shows_options_and_asks_for_the_letter():
    gpqa = {
        "Question": "Which city is the capital of France? [title]Geography[/title]",
        "Correct Answer": "Paris",
        "Incorrect Answer 1": "Lyon [1]",
        "Incorrect Answer 2": "Marseille",
        "Incorrect Answer 3": "Nice",
    }
    doc = normalize_doc(gpqa, "choice")
    text = prompt(doc, "choice")
    letter = doc["answer"]
    for i, option in enumerate(doc["choices"]):
        assert f"({'ABCD'[i]}) {option}" in text
    assert "Lyon" in doc["choices"] and "[1]" not in text and "[title]" not in text
    assert "letter" in text and text.endswith("\\boxed{}")
    # The order is seeded by the raw question text: the same for every model and every run.
    assert normalize_doc(dict(gpqa), "choice") == doc
    # Boxing the right option's text is right; a wrong final letter after discussing the right
    # one is wrong.
    assert (
        score_item(["So it is \\boxed{Paris}."], letter, "choice", [1], doc["choices"])["acc"]
        == 1.0
    )
    wrong = "ABCD"[(("ABCD".index(letter)) + 1) % 4]
    talk = f"Option ({letter}) Paris looks right, but on reflection \\boxed{{{wrong}}}"
    assert score_item([talk], letter, "choice", [1], doc["choices"])["acc"] == 0.0


def test_prompts_have_no_final_period():
    from rldynamics.evaluate.benchmark_docs import BOXED_INSTRUCTION

    assert BOXED_INSTRUCTION == (
        "\nPlease reason step by step, and put your final answer within \\boxed{}"
    )
    assert prompt({"question": "1+1?", "answer": "2"}, "boxed").endswith("\\boxed{}")
    assert prompt({"question": "1+1?", "answer": "2"}, "gsm8k").endswith("\\boxed{}")


ROW_FORMS = [
    ({"question": "q", "answer": "12"}, "boxed", "12"),
    ({"problem": "q", "answer": "\\frac12"}, "boxed", "\\frac12"),
    ({"Problem": "q", "Answer": 204, "ID": "2024-I-1"}, "boxed", "204"),
    (
        {"problem": "q", "solution": "so \\boxed{1} and finally $\\boxed{\\frac{3}{4}}$."},
        "boxed",
        "\\frac{3}{4}",
    ),
    ({"question": "q", "answer": "work\n#### 1,200"}, "gsm8k", "1200"),
]


@pytest.mark.parametrize("row, form, answer", ROW_FORMS)
def test_public_row_forms_are_normalized(row, form, answer):
    assert normalize_doc(row, form) == {"question": "q", "answer": answer}


@pytest.mark.parametrize(
    "row, form, message",
    [
        ({"problem": "q", "solution": "it is 3"}, "boxed", "no \\\\boxed"),
        ({"problem": "q"}, "boxed", "answer field"),
        ({"answer": "1"}, "boxed", "question field"),
        ({"Question": "q", "Correct Answer": "x"}, "choice", "Incorrect Answer 1"),
    ],
)
def test_incomplete_rows_are_named(row, form, message):
    with pytest.raises(InputError, match=message):
        normalize_doc(row, form)


def test_local_file_rows_are_checked_in_the_tasks_form(tmp_path):
    from rldynamics.evaluate.scoring import task_config

    tasks = REPO / "workflow/tasks"
    data = tmp_path / "minerva.jsonl"
    data.write_text('{"problem": "q", "solution": "\\\\boxed{1}"}\n{"problem": "q2"}\n')
    with pytest.raises(InputError, match=f"{data}:2.*answer field"):
        task_config(tasks / "minerva_math.yaml", data=data)
    data.write_text('{"problem": "q", "solution": "so \\\\boxed{1}"}\n')
    assert task_config(tasks / "minerva_math.yaml", data=data)["dataset_path"] == "json"


def test_dataset_rows_name_the_dataset_at_fault():
    from datasets import Dataset

    utils = task_hooks()
    rows = Dataset.from_list([{"problem": "q", "solution": "\\boxed{2}"}, {"problem": "q"}])
    with pytest.raises(InputError, match="row 1: benchmark item lacks an answer field"):
        utils.docs_boxed(rows)
    docs = utils.docs_boxed(rows.select([0]))
    assert docs[0] == {"question": "q", "answer": "2"}


def version_1_plain(completion: str, gold: str) -> bool:
    """The toy task's reading and grading as grader version 1 wrote it (frozen copy)."""
    from math_verify import parse, verify

    line = completion.strip().split("\n")[0].strip() or None
    if line is None:
        return False
    if line == gold.strip():
        return True

    def wrap(s):
        s = s.strip()
        return s if s.startswith("$") else f"${s}$"

    try:
        g, p = parse(wrap(gold)), parse(wrap(line))
        return bool(g) and bool(p) and bool(verify(g, p))
    except Exception:
        return False


def test_toy_task_reading_is_unchanged():
    import random

    rng = random.Random(0)
    alphabet = "0123456789+=e.\n -"
    completions = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(300)
    ]
    completions += ["125", "0125", "12e1", "125\n3", "1.25e2", " 125 "]
    for completion in completions:
        assert verdict(completion, "125", "plain") is version_1_plain(completion, "125"), completion


# Cases found by an adversarial review: each was read wrongly by an earlier draft.
REVIEW_CASES = [
    # A statement's answer is its leading expression, not the sentence's last number.
    ("\\boxed{5}\nThe final answer is 5 because 2+3=5 and not 7.", "7", "boxed", False),
    ("\\boxed{3}\nThe final answer is 3, and the sum is 9.", "9", "boxed", False),
    ("\\boxed{12}\nFinal answer: 12 (the 3rd option).", "3", "boxed", False),
    ("\\boxed{073}\nFinal answer: 073 (mod 1000)", "73", "boxed", True),
    ("The answer is 7, not 5.", "5", "boxed", False),
    ("The answer is 18 dollars per day, over 6 days.", "18", "gsm8k", True),
    ("So the answer is 18.\n\nNote: the answer is not 20.", "18", "boxed", True),
    # A question is no answer.
    (
        "<think>So maybe the answer is 12? Let me verify with another approach. Hmm",
        "12",
        "boxed",
        False,
    ),
    # Markdown headings are not GSM8K's #### marker.
    ("### Solution\n\\boxed{5}\n\n#### Check with n = 7\nPlugging in works.", "7", "boxed", False),
    ("#### Step 2: Each face has 4 edges", "4", "boxed", False),
    # Scientific notation in a sentence.
    ("Final Answer: The final answer is 3.2e5. I hope it is correct.", "320000", "boxed", True),
    ("Final Answer: The final answer is 3.2e5. I hope it is correct.", "10", "boxed", False),
    ("The final answer is 2.5 \\times 10^{3}. I hope it is correct.", "2500", "boxed", True),
    # Boxes apart by mere spacing or a full stop are a correction, not a list.
    ("\\boxed{5}\n\n\\boxed{7}", "7", "boxed", True),
    ("\\boxed{5}. \\boxed{7}", "7", "boxed", True),
]


@pytest.mark.parametrize("completion, gold, form, right", REVIEW_CASES)
def test_review_cases(completion, gold, form, right):
    assert verdict(completion, gold, form) is right


SUGARS = ("L-glucose", "D-fructose", "L-fructose", "D-glucose")
REVIEW_CHOICE = [
    ("\\boxed{C}\n\nOption A: incorrect, too small.\nOption B: incorrect.", CHOICES, "C"),
    ("\\boxed{C}\n\n- Option D: too small", CHOICES, "C"),
    ("\\boxed{C}\n\nChoice A would require a longer lifetime.", CHOICES, "C"),
    ("Final answer: \\boxed{C}\n\nNote: answer (A) would be correct if…", CHOICES, "C"),
    ("The answer is C.\n\nOption A is wrong.", CHOICES, "C"),
    ("\\boxed{D-fructose}", SUGARS, "B"),
    ("Answer: D-fructose", SUGARS, "B"),
    (
        "\\boxed{A dominant-negative mutation in Y}",
        ("x", "y", "z", "A dominant-negative mutation in Y"),
        "D",
    ),
    # A long reasoning cut off before it commits to a letter has no answer.
    (
        "<think>\n"
        + "Let me weigh the options. " * 20
        + "A: too fast. B: plausible. D: no. Hmm, between ",
        CHOICES,
        None,
    ),
    ("maybe the answer is B? But wait", CHOICES, None),
]


@pytest.mark.parametrize("completion, choices, letter", REVIEW_CHOICE)
def test_review_choice_cases(completion, choices, letter):
    assert extract_answer(completion, "choice", choices) == letter


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{" * 14000,
        "\\boxed{\\frac{1}{2} " * 5000,
        "answer: x " * 10000,
        "so the answer is 5, or maybe 6, " * 3000,
        "Hmm, so the answer is either B or C, " * 3000,
        " ".join(str(i) for i in range(20000)),
        "so it cannot be (A) or (B) or (C), " * 3000,
        "Hmm, actually (C) is correct. Wait, (C) is wrong. " * 3000,
        "**B**\n**C**\n" * 5000,
        "I'll go with the third option, my final choice: " * 3000,
        "Therefore, the total is 5 and so the count is " * 3000,
        "Therefore, " * 20000,
        "\\begin{pmatrix} 1 \\\\ " * 5000,
        "so she makes 16 * 2 = 32 and then 32 + " * 3000,
    ],
    ids=[
        "open-boxes",
        "open-fracs",
        "answer-colons",
        "answer-loop",
        "choice-loop",
        "digits",
        "negation-loop",
        "retraction-loop",
        "bold-letters",
        "commitment-loop",
        "conclusion-loop",
        "conclusion-openers",
        "open-matrices",
        "cut-off-sums",
    ],
)
def test_degenerate_long_outputs_are_read_in_linear_time(text):
    """Repetition loops up to the token limit: read in one pass (no timing here, only that the
    reading ends; the review measured 4-60 s for these before the fix)."""
    for form in ("boxed", "gsm8k", "choice"):
        answer = extract_answer(text, form, CHOICES)
        is_equivalent(answer, "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", form)


def test_an_option_text_opening_a_short_answer_reads_as_that_option():
    # Its leading "D" is the sugar's configuration, not option D.
    assert extract_answer("D-fructose, since it is a ketose.", "choice", SUGARS) == "B"


# Grader version 3: the classes version 2 read wrongly, each with right and wrong readings.
REASONING = "Let me weigh each option against the data given in the question, one by one. " * 5
ENERGIES = ("1.6 eV", "2.4 eV", "3.2 eV", "4.8 eV")
FRACTIONS = ("$\\frac{1}{2}$", "$\\frac{1}{3}$", "$\\sqrt{2}$", "$2$")
VERSION_3_CHOICE = {
    "option content boxed": [
        ("\\boxed{3.2\\ \\text{eV}}", ENERGIES, "C"),
        ("\\boxed{2.4\\,\\mathrm{eV}}", ENERGIES, "B"),
        ("\\boxed{\\text{the third option}}", ENERGIES, "C"),
        ("The answer is the second one.", CHOICES, "B"),
        ("\\boxed{0.5}", FRACTIONS, "A"),
        ("\\boxed{\\frac{2}{6}}", FRACTIONS, "B"),
        ("\\boxed{5.0\\ \\text{eV}}", ENERGIES, None),  # no option has it
        ("\\boxed{0.333}", FRACTIONS, None),  # a truncation is not the exact 1/3
        ("I think it is the second one.", CHOICES, None),  # an ordinal not committed to
    ],
    "final choice without a box": [
        (REASONING + "\n\nFinal choice: (B)", CHOICES, "B"),
        (REASONING + "\n\n**B**", CHOICES, "B"),
        (REASONING + "\n\nSo my final option is C.", CHOICES, "C"),
        (REASONING + "\n\nI'll go with (D).", CHOICES, "D"),
        (REASONING + "\n\nI choose Lyon.", CHOICES, "B"),
        (REASONING + "\n\n**A**: too large.\n**B**: too small.", CHOICES, None),  # a rundown
    ],
    "negated mention": [
        ("The gap is too small, so it cannot be (A).", CHOICES, None),
        ("Having checked all four, it cannot be (A).", CHOICES, None),
        ("We can rule out B and D.", CHOICES, None),
        ("It is C rather than A.", CHOICES, "C"),
        ("The answer is C. Option A is wrong since it is too small.", CHOICES, "C"),
        ("Option (B) fails the second test, so not B.", CHOICES, None),
    ],
    "correction after the box": [
        ("\\boxed{B}\n\nWait, (B) fails for n = 2. It should be (C).", CHOICES, "C"),
        ("\\boxed{B} Hmm, actually (C) is correct.", CHOICES, "C"),
        ("\\boxed{B}\n\nOn reflection I'll go with D.", CHOICES, "D"),
        ("\\boxed{B}. Hmm, actually B is wrong.", CHOICES, None),  # retracted, nothing after
        ("\\boxed{B}. Note (C) would be correct if the field were reversed.", CHOICES, "B"),
        ("\\boxed{B}. Note that (C) is correct only if the field were reversed.", CHOICES, "B"),
        ("\\boxed{B}. Why not A? Because A ignores friction.", CHOICES, "B"),
    ],
}


@pytest.mark.parametrize(
    "completion, choices, letter",
    [case for cases in VERSION_3_CHOICE.values() for case in cases],
    ids=[f"{name}-{i}" for name, cases in VERSION_3_CHOICE.items() for i in range(len(cases))],
)
def test_version_3_multiple_choice(completion, choices, letter):
    assert extract_answer(completion, "choice", choices) == letter


PMATRIX = "\\begin{pmatrix} -3 \\\\ 6 \\\\ -3 \\end{pmatrix}"
VERSION_3_MATH = {
    "column vector and tuple": [
        (f"\\boxed{{{PMATRIX}}}", "(-3, 6, -3)", "boxed", True),
        ("\\boxed{(-3, 6, -3)}", PMATRIX, "boxed", True),
        ("\\boxed{\\begin{bmatrix} 1 & 2 \\end{bmatrix}}", "(1, 2)", "boxed", True),
        (f"\\boxed{{{PMATRIX}}}", "(-3, 6, 3)", "boxed", False),
        (
            "\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}",
            "(1, 2, 3, 4)",
            "boxed",
            False,
        ),
    ],
    "exact value of a decimal": [
        ("\\boxed{0.142857}", "\\frac{1}{7}", "boxed", False),
        ("\\boxed{1.414}", "\\sqrt{2}", "boxed", False),
        ("\\boxed{0.33}", "\\frac13", "boxed", False),
        ("\\boxed{0.25}", "\\frac14", "boxed", True),
        ("\\boxed{0.50}", "0.5", "boxed", True),
        ("\\boxed{0.54}", "0.5", "boxed", False),
        ("\\boxed{\\frac13}", "0.33", "boxed", True),
        ("\\boxed{\\sqrt2}", "1.41", "boxed", True),
        ("\\boxed{\\sqrt2}", "1.42", "boxed", False),
        ("The answer is 72.00", "72", "gsm8k", True),
    ],
    "conclusion sentence": [
        ("So, the ordered pair $(x, y)$ that solves it is $(7, 6)$.", "(7,6)", "boxed", True),
        ("Therefore, there are 12 distinct sequences. I hope it is correct.", "12", "boxed", True),
        ("$$x = 2$$ Therefore, the error increases by 100%.", "100%", "boxed", True),
        ("Therefore, the probability is not 2/3.", "2/3", "boxed", False),
        ("Therefore, is the probability 2/3?", "2/3", "boxed", False),
    ],
    "letter gold in a math item": [
        ("\\boxed{C. x = 42}", "C", "boxed", True),
        ("\\boxed{B. x = 42}", "C", "boxed", False),
    ],
    "boxes joined by words": [
        (
            "$\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}$",
            "(3, 3), (1, 1)",
            "boxed",
            True,
        ),
        ("$\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}$", "(1, 1)", "boxed", False),
    ],
    "GSM8K cut off": [
        ("She earns 8 per hour for 2 hours, so she makes 8 * 2 =", "16", "gsm8k", False),
        (
            "She earns 8 per hour for 2 hours. In total she makes 16 dollars from",
            "16",
            "gsm8k",
            False,
        ),
        ("Each box holds 4, so the 4 boxes hold <<4*4=", "4", "gsm8k", False),
        ("She earns 8 per hour for 2 hours, so she makes 8 * 2 = 16", "16", "gsm8k", True),
        ("She earns 8 per hour for 2 hours: 16 dollars in total", "16", "gsm8k", True),
        ("Le coût final est donc de 100 - 30 = 70", "70", "gsm8k", True),
    ],
}


@pytest.mark.parametrize(
    "completion, gold, form, right",
    [case for cases in VERSION_3_MATH.values() for case in cases],
    ids=[f"{name}-{i}" for name, cases in VERSION_3_MATH.items() for i in range(len(cases))],
)
def test_version_3_math(completion, gold, form, right):
    assert verdict(completion, gold, form) is right
