"""Answer reading and grading of the papers' benchmarks (AlphaRL §8).

The reading rule (grader version ``GRADER_VERSION``), in order; the first step that finds an
answer decides:

1. **Where to read.** Text after the last closing ``</think>`` is read; the reasoning before it
   only when nothing follows it.
2. **Boxes.** The last ``\\boxed{}`` (also ``\\fbox``, ``\\framebox``) wins: a later box corrects
   an earlier one. Boxes are joined into one answer only when they end the text and nothing but
   commas, "and"/"or", ``$``, ``\\quad``-style spacing, LaTeX delimiters or ``x=``-style labels
   separate them (``\\boxed{1}, \\boxed{2}`` is the set {1, 2}). One exception: an explicit
   "final answer" statement written *after* every box is the last word and wins over them
   ("… \\boxed{255} … The final answer is $10,455$").
3. **Final statement.** With no box, the last explicit statement is read: "final answer is",
   "answer:", "answer is", bold or not, any case (and GSM8K's ``####``); the words after it, up
   to the end of the sentence or line, are read as LaTeX or a plain expression.
4. **Last number** — only where the benchmark's convention allows it (form ``gsm8k``): the last
   line that holds a digit, read as a LaTeX or plain expression (``$\\frac{5}{6}$`` is 5/6,
   ``10^3`` is 1000), not as a digit run.

Multiple choice (form ``choice``) reads a letter A–D: the last box or answer statement
(``\\boxed{C}``, ``\\boxed{\\textbf{(C)}}``, ``**Answer:** C``, ``Answer: "C"``, ``Option C``,
``The answer is for sure D``), whichever ends later, wins over letters met in the reasoning; a
box or statement holding the exact text of one option (the item's ``choices``) reads as its
letter. Without either: a letter that opens the text (``**D) …**``, ``A. Because …``), then the
last standalone capital letter.

**Which code reads what.** math-verify (``math_verify.parse``) reads every mathematical answer:
box contents, the joined boxes (as ``$a$ and $b$``, its own multi-answer form), the words of a
final statement and GSM8K's last line, with its LaTeX and expression extraction; it also grades
equivalence (``math_verify.verify``), and its string extraction reads the last standalone letter
of a multiple-choice answer. Written here by hand, because math-verify does not do it: the
``</think>`` split, balanced-brace box finding with ``\\framebox``, the join-at-the-end rule and
the statement-after-box exception, the choice of *which* statement is the last one (math-verify's
"answer" anchor has no word boundary and prefers the highest-priority pattern anywhere in the
text), the letter wrappings and option texts, and three guards against false positives before
anything reaches math-verify: Euler's ``\\mathrm{e}`` is kept as e (math-verify drops
``\\mathrm{…}`` like a unit, so ``2\\mathrm{e}`` would equal 2), e-notation (``3.2e5``) is read
as scientific notation (not 3.2·e·5), and ``(- 1)`` is read as −1.

Each item is sampled n times; the item scores are the mean accuracy (avg@n) and the unbiased
pass@k estimator 1 − C(n−c, k)/C(n, k).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from math import comb

# Changes whenever the reading rule or the equivalence check changes: results and provenance
# record it, so a reader knows which rule scored a run. Version 1 read only the last box.
GRADER_VERSION = "2"
CHOICE_LETTERS = "ABCD"
FORMS = ("boxed", "gsm8k", "choice", "plain")


@dataclass(frozen=True)
class Answer:
    """What a completion answers: ``text`` is ready for math-verify (or a letter), ``rule`` the
    step of the reading rule that found it (box, boxes, statement, last-number, letter, line)."""

    text: str
    rule: str


# --- where to read -------------------------------------------------------------------------


def answer_region(text: str) -> str:
    """The text after the last ``</think>``, or the reasoning when nothing follows it."""
    head, sep, tail = text.rpartition("</think>")
    if not sep:
        return text
    return tail if tail.strip() else head.replace("<think>", "", 1)


# --- boxes -----------------------------------------------------------------------------------

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox|framebox)\s*(?:\[[^\]]*\])?\s*\{")
_BARE_BOX = re.compile(r"\\boxed\s+([^\s${}\\]+)")


@dataclass(frozen=True)
class _Box:
    start: int  # where ``\boxed`` begins
    end: int  # just past the closing brace
    content: str


def find_boxes(text: str) -> list[_Box]:
    """Every balanced ``\\boxed{…}`` / ``\\fbox{…}`` / ``\\framebox{…}`` and ``\\boxed 5``."""
    boxes = []
    for match in _BOX_OPEN.finditer(text):
        depth, pos = 1, match.end()
        while pos < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            pos += 1
        if depth == 0:  # an unbalanced box is malformed: no answer
            boxes.append(_Box(match.start(), pos, text[match.end() : pos - 1].strip()))
    for match in _BARE_BOX.finditer(text):
        boxes.append(_Box(match.start(), match.end(), match.group(1).rstrip(".,")))
    boxes.sort(key=lambda box: box.start)
    # A box nested in another (``\boxed{\boxed{5}}``) belongs to the outer one.
    return [b for i, b in enumerate(boxes) if not any(o.start < b.start < o.end for o in boxes[:i])]


def last_boxed(text: str) -> str | None:
    """Content of the last box of ``text``; None when there is none (or it is unbalanced)."""
    boxes = find_boxes(text)
    return boxes[-1].content if boxes else None


# What may separate boxes that together form one answer: commas, and/or, math delimiters,
# spacing commands, \text{and} and short labels such as ``x_1 =``.
_SEPARATOR = re.compile(
    r"""(?:\s|[,;.$]|\\[()\[\]]|\\(?:quad|qquad|,|;|:|!)|~|
        \\text\s*\{\s*(?:,|and|or)?\s*\}|\b(?:and|or)\b)*""",
    re.VERBOSE,
)
_LABEL = re.compile(r"([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*$")
_TRAILER = re.compile(r"(?:\s|[.,;$!]|\\[)\]]|\\(?:quad|qquad))*")


def _joined_boxes(text: str, boxes: list[_Box]) -> list[tuple[str, _Box]]:
    """The boxes that end the text, joined when only separators (and labels) lie between them;
    each with its ``x=`` label, if any. The last box alone when they do not qualify."""
    last = boxes[-1]
    if not _TRAILER.fullmatch(text, last.end):
        return [("", last)]
    group = [last]
    for box in reversed(boxes[:-1]):
        gap = text[box.end : group[0].start]
        if len(gap) > 200:  # separators are short; a long gap is reasoning
            break
        label = _LABEL.search(gap)
        core = gap[: label.start()] if label else gap
        if not _SEPARATOR.fullmatch(core):
            break
        group.insert(0, box)
    labelled = []
    for i, box in enumerate(group):
        before = text[group[i - 1].end if i else max(0, box.start - 40) : box.start]
        label = _LABEL.search(before)
        labelled.append((label.group(1) if label else "", box))
    return labelled


# --- final statements ------------------------------------------------------------------------

# "final answer is", "Final Answer:", "**Answer:**", "The answer is", "ANSWER: B", "####".
_STATEMENT = re.compile(
    r"""(?:\b(?P<final>final\s+answer)|\banswer)[*_]{0,2}\s*
        (?:is\b|[:：=]|[–—-](?!\d))[*_]{0,2}[:\s]*
      | (?P<hashes>\#\#\#\#)\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_SENTENCE_END = re.compile(r"\n|\.\s+(?=[A-Z\[(])|(?i:\s*I hope it is correct)")


@dataclass(frozen=True)
class _Statement:
    start: int
    final: bool  # "final answer" (or ####): strong enough to follow a box
    words: str


def find_statements(text: str) -> list[_Statement]:
    """Every answer statement with the words that follow it, to the end of the sentence."""
    statements = []
    for match in _STATEMENT.finditer(text):
        rest = text[match.end() :]
        cut = _SENTENCE_END.search(rest)
        words = rest[: cut.start()] if cut else rest
        strong = bool(match.group("final") or match.group("hashes"))
        statements.append(_Statement(match.start(), strong, words.strip().rstrip(".")))
    return statements


# --- false-positive guards -------------------------------------------------------------------

_EULER = re.compile(r"\\(?:mathrm|text|operatorname|rm|mathit)\s*\{\s*e\s*\}|\\rm\s+e\b")
_E_NOTATION = re.compile(r"(?<![\w.\\])(\d+(?:\.\d+)?)\s*[eE]\s*([+-]?\d+)(?![\w.])")
_SPACED_MINUS = re.compile(r"\(\s*-\s+(?=\d)")
_BRACKETED_NUMBER = re.compile(r"\s*\(\s*(-?\d[\d,]*(?:\.\d+)?)\s*\)\s*\.?\s*")


def guard_latex(text: str) -> str:
    """Rewrites that keep math-verify from dropping or misreading what a text means."""
    text = _EULER.sub("e", text)  # \mathrm{e} is Euler's number, not a unit
    text = _E_NOTATION.sub(r"\1\\times 10^{\2}", text)  # 3.2e5 is 3.2·10⁵
    text = _SPACED_MINUS.sub("(-", text)  # "(- 1)" is −1
    bracketed = _BRACKETED_NUMBER.fullmatch(text)  # "is: (11)." is 11, not a 1-tuple
    return bracketed.group(1) if bracketed else text


@lru_cache(maxsize=4096)
def parse_math(text: str, guarded: bool = True) -> tuple:
    """math-verify's reading of ``text`` (its LaTeX and expression extraction); () if none.
    ``guarded``: with the false-positive guards of ``guard_latex`` applied first."""
    from math_verify import parse

    try:
        return tuple(parse(guard_latex(text) if guarded else text))
    except Exception:  # math-verify raises on some malformed LaTeX: no answer, not a crash
        return ()


def _as_latex(answer: str) -> str:
    answer = answer.strip()
    return answer if answer.startswith("$") else f"${answer}$"


# --- reading ---------------------------------------------------------------------------------


def _box_answer(text: str, boxes: list[_Box]) -> Answer:
    group = _joined_boxes(text, boxes)
    if len(group) == 1:
        return Answer(_as_latex(group[0][1].content), "box")
    parts = [f"${label} = {box.content}$" if label else f"${box.content}$" for label, box in group]
    return Answer(" and ".join(parts), "boxes")


def _statement_answer(statements: list[_Statement], after: int = -1) -> Answer | None:
    """The last statement after position ``after`` whose words math-verify can read (of the
    last ten: an answer is stated near the end, and each try is a parse)."""
    for statement in reversed(statements[-10:]):
        if statement.start <= after:
            break
        if statement.words and parse_math(statement.words):
            return Answer(statement.words, "statement")
    return None


def _last_line_answer(text: str) -> Answer | None:
    for line in reversed(text.splitlines()):
        if re.search(r"\d", line) and parse_math(line):
            return Answer(line.strip(), "last-number")
    return None


def read_answer(text: str, form: str, choices: tuple[str, ...] | list[str] = ()) -> Answer | None:
    """The answer of a completion in the benchmark's ``form`` (see the module's reading rule)."""
    if form not in FORMS:
        raise ValueError(f"unknown answer form {form!r}; known: {', '.join(FORMS)}")
    if form == "plain":  # the toy task: the first line is the answer
        line = text.strip().split("\n")[0].strip()
        return Answer(line, "line") if line else None
    region = answer_region(text)
    if form == "choice":
        return read_choice(region, tuple(choices))
    boxes = find_boxes(region)
    statements = find_statements(region)
    if boxes:
        strong_after = [s for s in statements if s.final]
        later = _statement_answer(strong_after, after=boxes[-1].end - 1)
        return later or _box_answer(region, boxes)
    found = _statement_answer(statements)
    if found or form != "gsm8k":
        return found
    return _last_line_answer(region)


def extract_answer(text: str, form: str, choices: tuple[str, ...] | list[str] = ()) -> str | None:
    """The answer text of a completion (ready for ``is_equivalent``); None when there is none."""
    answer = read_answer(text, form, choices)
    return answer.text if answer else None


# --- multiple choice -------------------------------------------------------------------------

_WRAPPER = re.compile(r"\\(?:text(?:bf|it|rm|tt)?|math(?:rm|bf|it|tt)|bf|textsc)\s*\{?|\\[{}]")
_LEADING_LETTER = re.compile(
    r"""^[\s*_"'`\[(]*(?:(?:option|choice)\s+)?[\s*_"'`\[(]*([A-D])(?![A-Za-z0-9])""",
    re.IGNORECASE,
)
# "Answer" anywhere; "Option"/"Choice" only where they open a line ("Option C", "Choice: (D)"),
# so that "let me check option B" after a box is not read as an answer.
_CHOICE_STATEMENT = re.compile(
    r"""(?:\b(?:final\s+)?answer|^[\s*_#>-]*(?:choice|option))[*_]{0,2}\s*
        (?:(?:is|would\s+be|will\s+be)\b|[:：]|[–—-])?[*_]{0,2}\s*
        (?:(?:for\s+sure|definitely|clearly|probably|likely|therefore|thus|then|correct|option|
            choice)[\s,:]+)*""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)
_PLAIN_LETTER = re.compile(r"(?:^|(?<=[\s(\[*_\"']))([A-D])(?=$|[\s.,:;)\]*_\"'!?])")


def _squash(text: str) -> str:
    text = _WRAPPER.sub("", text).replace("}", "").replace("{", "")
    return re.sub(r"\s+", " ", text).strip(" .*_\"'`$").lower()


def letter_of(fragment: str, choices: tuple[str, ...] = (), anchored: bool = False) -> str | None:
    """The option letter a box content or statement names: the letter in its usual wrappings
    (``(C)``, ``\\textbf{C}``, ``C.``, ``C) text``), or the exact text of one option. A lower-case
    letter counts only after an explicit answer statement (``anchored``)."""
    plain = _WRAPPER.sub("", fragment).replace("\\}", "")
    match = _LEADING_LETTER.match(plain)
    # "answer: a" names option A; "the answer is a bit odd" does not.
    lower_ok = anchored and re.match(r"[\s.)\]\"'*_:!]*$", plain[match.end() :] if match else "")
    if match and (match.group(1).isupper() or lower_ok):
        return match.group(1).upper()
    if choices:
        squashed = _squash(fragment)
        named = [i for i, option in enumerate(choices) if _squash(option) == squashed]
        if len(named) == 1:
            return CHOICE_LETTERS[named[0]]
    return None


def read_choice(region: str, choices: tuple[str, ...] = ()) -> Answer | None:
    """The letter a multiple-choice completion answers (see the module's reading rule)."""
    found: list[tuple[int, str]] = []
    for box in find_boxes(region):
        letter = letter_of(box.content, choices, anchored=True)
        if letter:
            found.append((box.end, letter))
    for match in _CHOICE_STATEMENT.finditer(region):
        rest = region[match.end() :]
        line = rest.split("\n", 1)[0]
        letter = letter_of(line[:80], choices, anchored=True)
        if not letter and choices:
            cut = _SENTENCE_END.search(line)
            letter = letter_of(line[: cut.start()] if cut else line, choices, anchored=True)
        if letter:
            found.append((match.end(), letter))
    if found:
        return Answer(max(found)[1], "letter")
    opening = _LEADING_LETTER.match(region)
    if opening and opening.group(1).isupper() and not re.match(r"\s*[Aa]\s+[a-z]", region):
        return Answer(opening.group(1), "letter")
    letters = _PLAIN_LETTER.findall(region)
    return Answer(letters[-1], "letter") if letters else None


# --- verdicts --------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _parse_gold(gold: str, guarded: bool = True) -> tuple:
    return parse_math(_as_latex(gold), guarded)


def is_equivalent(predicted: str | None, gold: str, form: str) -> bool:
    """Whether an extracted answer matches the gold answer (math-verify, or letters for choice)."""
    if predicted is None:
        return False
    if form == "choice":
        return predicted.strip().upper() == gold.strip().upper()
    if predicted.strip().strip("$").strip() == gold.strip().strip("$").strip():
        return True  # the same text, also where math-verify cannot parse it (\text{Evelyn})
    from math_verify import verify

    if form == "plain":  # the toy task's first line, read exactly as grader version 1 did
        pred_parsed, gold_parsed = parse_math(_as_latex(predicted), False), _parse_gold(gold, False)
    else:  # a box's content is already $…$; a statement or last line is text to read
        pred_parsed, gold_parsed = parse_math(predicted), _parse_gold(gold)
    try:
        return (
            bool(gold_parsed)
            and bool(pred_parsed)
            and bool(verify(list(gold_parsed), list(pred_parsed)))
        )
    except Exception:  # math-verify raises on some malformed LaTeX: a wrong answer, not a crash
        return False


def pass_at_k(n: int, correct: int, k: int) -> float:
    """Unbiased pass@k of one item with ``correct`` right answers among ``n`` samples."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - correct < k:
        return 1.0
    return 1.0 - comb(n - correct, k) / comb(n, k)


def verdicts(
    completions: list[str], gold: str, form: str, choices: tuple[str, ...] | list[str] = ()
) -> list[bool]:
    """Right or wrong, for each of an item's completions."""
    choices = tuple(choices)
    return [is_equivalent(extract_answer(t, form, choices), gold, form) for t in completions]


def score_item(
    completions: list[str],
    gold: str,
    form: str,
    ks: list[int],
    choices: tuple[str, ...] | list[str] = (),
) -> dict[str, float]:
    """avg@n as ``acc`` and ``pass@k`` for each k ≤ n, for one item's n completions."""
    right = verdicts(completions, gold, form, choices)
    n, correct = len(right), sum(right)
    scores = {"acc": correct / n if n else 0.0}
    for k in ks:
        if k <= n:
            scores[f"pass@{k}"] = pass_at_k(n, correct, k)
    return scores


def pass_ks(n: int) -> list[int]:
    """The k of pass@k reported for n samples: 1, 2, 4, … up to n, and n itself."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks if not n or ks[-1] == n else [*ks, n]


def lm_eval_scores(doc: dict, results: list, form: str) -> dict[str, float]:
    """lm-eval ``process_results``: ``results`` holds the item's n completions (take_first_k)."""
    completions = results[0] if results and isinstance(results[0], list) else list(results)
    choices = tuple(doc.get("choices") or ())
    return score_item(completions, doc["answer"], form, pass_ks(len(completions)), choices)
