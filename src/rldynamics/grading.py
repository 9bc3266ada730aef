"""Answer reading and grading of the papers' benchmarks (AlphaRL §8).

The reading rule (grader version ``GRADER_VERSION``), in order; the first step that finds an
answer decides:

1. **Where to read.** Text after the last closing ``</think>`` is read; the reasoning before it
   only when nothing follows it.
2. **Boxes.** The last ``\\boxed{}`` (also ``\\fbox``, ``\\framebox``) wins: a later box corrects
   an earlier one. Boxes are joined into one answer only when they end the text and nothing but
   commas, "and"/"or", ``$``, ``\\quad``-style spacing, LaTeX delimiters or ``x=``-style labels
   separate them, with at least one comma, "and"/"or" or label between each two
   (``\\boxed{1}, \\boxed{2}`` is the set {1, 2}; ``\\boxed{5}. \\boxed{7}`` is 7). One exception:
   an explicit "final answer" statement written *after* every box is the last word and wins
   over them ("… \\boxed{255} … The final answer is $10,455$").
3. **Final statement.** With no box, the last explicit statement is read: "final answer is",
   "answer:", "answer is", bold or not, any case (and, for GSM8K, its ``#### N`` at the start
   of a line; a Markdown heading is not one). Its answer is the leading expression of the
   words after it, read as LaTeX or a plain expression: "The largest $n$ is 34" gives 34,
   "7, not 5" gives 7, "12 (the 3rd option)" gives 12; a question ("12? Let me check") or a
   negation ("not 20") is no answer.
4. **Last number** — only where the benchmark's convention allows it (form ``gsm8k``): the last
   line that holds a digit, read as a LaTeX or plain expression (``$\\frac{5}{6}$`` is 5/6,
   ``10^3`` is 1000), not as a digit run.

Multiple choice (form ``choice``) reads a letter A–D. The last box that names a letter
(``\\boxed{C}``, ``\\boxed{\\textbf{(C)}}``) wins, unless an answer statement comes after it
(``**Answer:** C``, ``Answer: "C"``, ``The answer is for sure D``); with no such box, the last
statement, where "Option C" / "Choice: (D)" also count when they open a line and the letter
stands alone ("Option A: too small" in a rundown of the options does not). A box or statement
holding the exact text of one option, also at its head ("D-fructose, since …"), reads as that
option's letter, and an option text that starts like a letter ("D-fructose", "A dominant …")
is never read as the letter. Without box or statement: a letter that opens the text
(``**D) …**``, ``A. Because …``); and only in a short text (≤ 300 characters), the last
standalone capital letter. A long text that never commits to a letter — typically cut off at
the token limit — has no answer, so that cut-off outputs do not score 1 in 4 by chance.

**Which code reads what.** math-verify (``math_verify.parse``) reads every mathematical answer:
box contents, the joined boxes (as ``$a$ and $b$``, its own multi-answer form), the leading
expression of a final statement and GSM8K's last line, with its LaTeX and expression
extraction; it also grades equivalence (``math_verify.verify``). Written here by hand, because
math-verify does not do it: the ``</think>`` split; balanced-brace box finding (one pass, with
``\\framebox``); the join-at-the-end rule and the statement-after-box exception; *which*
statement is the last one and where its answer ends (math-verify's "answer" anchor has no word
boundary, prefers the highest-priority pattern anywhere in the text, and reads a sentence's
last number); all multiple-choice reading (math-verify's string extraction knows no wrappings,
option texts or line-opening anchors); and three guards against false positives before
anything reaches math-verify: Euler's ``\\mathrm{e}`` is kept as e (math-verify drops
``\\mathrm{…}`` like a unit, so ``2\\mathrm{e}`` would equal 2), e-notation (``3.2e5``) is read
as scientific notation (not 3.2·e·5, nor 10 out of ``3.2\\times 10^{5}`` in plain text), and
``(- 1)`` is read as −1. Every search looks at a bounded window near the end (the last ten
statements, 500 characters after each), so a repetition loop up to the token limit is read in
one pass.

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
_MAX_BOX = 5000  # characters a box may hold; a longer one is a runaway, not an answer


@dataclass(frozen=True)
class _Box:
    start: int  # where ``\boxed`` begins
    end: int  # just past the closing brace
    content: str


def _closing_braces(text: str) -> dict[int, int]:
    """Position of each ``{`` → position of its matching ``}`` (one pass; escaped ``\\{`` and
    ``\\}`` count like the others, as in LaTeX source they still come in pairs)."""
    pairs, stack = {}, []
    for pos, char in enumerate(text):
        if char == "{":
            stack.append(pos)
        elif char == "}" and stack:
            pairs[stack.pop()] = pos
    return pairs


def find_boxes(text: str) -> list[_Box]:
    """Every balanced ``\\boxed{…}`` / ``\\fbox{…}`` / ``\\framebox{…}`` and ``\\boxed 5``."""
    boxes = []
    closing = None
    for match in _BOX_OPEN.finditer(text):
        if closing is None:
            closing = _closing_braces(text)
        end = closing.get(match.end() - 1)
        # An unbalanced (or endless) box is malformed: no answer.
        if end is not None and end - match.end() <= _MAX_BOX:
            boxes.append(_Box(match.start(), end + 1, text[match.end() : end].strip()))
    for match in _BARE_BOX.finditer(text):
        boxes.append(_Box(match.start(), match.end(), match.group(1).rstrip(".,")))
    boxes.sort(key=lambda box: box.start)
    # A box nested in another (``\boxed{\boxed{5}}``) belongs to the outer one.
    outer: list[_Box] = []
    for box in boxes:
        if not outer or box.start >= outer[-1].end:
            outer.append(box)
    return outer


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
_JOINER = re.compile(r",|\b(?:and|or)\b")
_LABEL = re.compile(r"([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*$")
_TRAILER = re.compile(r"(?:\s|[.,;$!]|\\[)\]]|\\(?:quad|qquad))*")


def _joined_boxes(text: str, boxes: list[_Box]) -> list[tuple[str, _Box]]:
    """The boxes that end the text, joined when only separators (and labels) lie between them;
    each with its ``x=`` label, if any. The last box alone when they do not qualify."""
    if not _TRAILER.fullmatch(text, boxes[-1].end):
        return [("", boxes[-1])]

    def label_of(i: int):  # the "x =" just before box i, within its gap (at most 40 characters)
        since = max(boxes[i - 1].end if i else 0, boxes[i].start - 40)
        return _LABEL.search(text, since, boxes[i].start)

    first, labels = len(boxes) - 1, {}
    while first > 0:
        labels[first] = label = label_of(first)
        gap_start, gap_end = boxes[first - 1].end, boxes[first].start
        if gap_end - gap_start > 200:  # separators are short; a long gap is reasoning
            break
        core = text[gap_start : label.start() if label else gap_end]
        # Only separators, and at least one that joins (a comma, and/or, a label): boxes apart
        # by mere spacing or a full stop are a correction ("\boxed{5}. \boxed{7}" is 7).
        if not _SEPARATOR.fullmatch(core) or not (label or _JOINER.search(core)):
            break
        first -= 1
    group = range(first, len(boxes))
    found = {i: labels[i] if i in labels else label_of(i) for i in group}
    return [(found[i].group(1) if found[i] else "", boxes[i]) for i in group]


# --- final statements ------------------------------------------------------------------------

# "final answer is", "Final Answer:", "**Answer:**", "The answer is", "ANSWER: 7"; for GSM8K
# also its own "#### 18" marker, at the start of a line and before a number (a Markdown
# heading "#### Step 2" is not an answer).
_STATEMENT = re.compile(
    r"""(?:\b(?P<final>final\s+answer)|\banswer)[*_]{0,2}\s*
        (?:is\b|[:：=]|[–—-](?!\d))[*_]{0,2}[:\s]*
      | (?P<hashes>^\#\#\#\#)[ \t]*(?=[-$\d])""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"\n|\.\s+(?=[A-Z\[(])|(?i:\s*I hope it is correct)")
_WINDOW = 500  # characters after an anchor that may hold its answer
_LAST_STATEMENTS = 10  # an answer is stated near the end; each try is a parse
# Where the answer of a statement ends and its comment begins ("7, not 5", "12 (the 3rd
# option)", "5 because 2+3=5"), outside math delimiters.
_CLAUSE = re.compile(
    r"""\?|;|,\s+(?=[A-Za-z]{2})|\s\((?=[A-Za-z])|
        \s(?:because|since|which|where|when|if|but|so|not|for|as|and\s+(?=[A-Za-z]{2}))\b""",
    re.VERBOSE,
)
_MATH_SPAN = re.compile(r"\$\$.+?\$\$|\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)
_SPAN_CHAIN = re.compile(
    r"(?:\$[^$]+\$|\\\(.+?\\\))(?:\s*(?:,|,?\s*and|,?\s*or)\s*(?:\$[^$]+\$|\\\(.+?\\\)))*"
)


@dataclass(frozen=True)
class _Statement:
    start: int
    final: bool  # "final answer" (or ####): strong enough to follow a box
    words: str  # the answer's words, comments cut off; "" when it is a question


def leading_answer(words: str) -> str:
    """The answer at the head of a statement's words, without the comment after it.

    "The largest $n$ is 34" → "34"; "7, not 5" → "7"; "$12$ and $13$" stays; a sentence that
    asks ("12? Let me check") is no answer ("")."""
    words = words.strip()
    if re.match(r"(?:not|never|no\s+longer)\b", words, re.IGNORECASE):  # "the answer is not 20"
        return ""
    if re.match(r"[A-Za-z]{2,}\b", words) and " is " in words:  # "The volume of $V$ is 120"
        words = words.rsplit(" is ", 1)[1]
    spans = [(m.start(), m.end()) for m in _MATH_SPAN.finditer(words)]
    for cut in _CLAUSE.finditer(words):
        if not any(start <= cut.start() < end for start, end in spans):
            if cut.group().startswith("?"):
                return ""
            words = words[: cut.start()]
            break
    chain = _SPAN_CHAIN.search(words)
    if chain:  # the first math span, or a chain of them joined by commas and and/or
        return chain.group()
    words = words.strip().rstrip(".")
    if "\\" in words:  # LaTeX without delimiters: "2.5 \times 10^{3}"
        return f"${words}$"
    return words


def find_statements(text: str, form: str = "boxed") -> list[_Statement]:
    """The last answer statements, each with the answer its words give."""
    matches = [m for m in _STATEMENT.finditer(text) if not (m.group("hashes") and form != "gsm8k")]
    statements = []
    for match in matches[-_LAST_STATEMENTS:]:
        rest = text[match.end() : match.end() + _WINDOW]
        cut = _SENTENCE_END.search(rest)
        words = rest[: cut.start()] if cut else rest
        strong = bool(match.group("final") or match.group("hashes"))
        statements.append(_Statement(match.start(), strong, leading_answer(words)))
    return statements


# --- false-positive guards -------------------------------------------------------------------

_EULER = re.compile(r"\\(?:mathrm|text|operatorname|rm|mathit)\s*\{\s*e\s*\}|\\rm\s+e\b")
_E_NOTATION = re.compile(r"(?<![\w.\\])(\d+(?:\.\d+)?)\s*[eE]\s*([+-]?\d+)(?![\w.])")
_SPACED_MINUS = re.compile(r"\(\s*-\s+(?=\d)")
_BRACKETED_NUMBER = re.compile(r"\s*\(\s*(-?\d[\d,]*(?:\.\d+)?)\s*\)\s*\.?\s*")


def guard_latex(text: str) -> str:
    """Rewrites that keep math-verify from dropping or misreading what a text means."""
    text = _EULER.sub("e", text)  # \mathrm{e} is Euler's number, not a unit
    # 3.2e5 is 3.2·10⁵ (as LaTeX, in $…$ where the text has no math delimiters of its own)
    delimited = "$" in text or "\\(" in text or "\\[" in text
    scientific = r"\1\\times 10^{\2}" if delimited else r"$\1\\times 10^{\2}$"
    text = _E_NOTATION.sub(scientific, text)
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
    """The last statement after position ``after`` whose words math-verify can read."""
    for statement in reversed(statements):
        if statement.start <= after:
            break
        if statement.words and parse_math(statement.words):
            return Answer(statement.words, "statement")
    return None


def _last_line_answer(text: str) -> Answer | None:
    for line in reversed(text[-20 * _WINDOW :].splitlines()):
        line = line[-_WINDOW:]  # the end of an endless line
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
    statements = find_statements(region, form)
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
# An answer statement: "answer" with its verb or colon ("The answer is for sure D", "ANSWER: B",
# "**Answer:** A"); "Option"/"Choice" only where they open a line, and then the letter must
# stand alone ("Option C", "Choice: (D)"), so that "Option A: too small" in a rundown of the
# options, or "answer (A) would be right if", is not read as an answer.
_CHOICE_STATEMENT = re.compile(
    r"""(?:\b(?P<answer>(?:final\s+)?answer)[*_]{0,2}\s*
            (?:(?:is|would\s+be|will\s+be)\b|[:：]|[–—-])
        |^[\s*_#>-]*(?:choice|option)[*_]{0,2}\s*[:：]?)
        [*_]{0,2}\s*
        (?:(?:for\s+sure|definitely|clearly|probably|likely|therefore|thus|then|correct|option|
            choice)[\s,:]+)*""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)
_ALONE = re.compile(r"[\s.)\]\"'*_:!]*$")
_PLAIN_LETTER = re.compile(r"(?:^|(?<=[\s(\[*_\"']))([A-D])(?=$|[\s.,:;)\]*_\"'!])(?!\s*\?)")
_ARTICLE = re.compile(r"A\s+(?!(?:because|since|as|is|was|seems|looks|would|and|or)\b)[a-z]")
_SHORT_ANSWER = 300  # characters: a text this short that names one letter last is an answer


def _squash(text: str) -> str:
    text = _WRAPPER.sub("", text).replace("}", "").replace("{", "")
    return re.sub(r"\s+", " ", text).strip(" .*_\"'`$").lower()


def letter_of(
    fragment: str, choices: tuple[str, ...] = (), anchored: bool = False, alone: bool = False
) -> str | None:
    """The option letter a box content or statement names: the exact text of one option (also
    at the head of the fragment), else the letter in its usual wrappings (``(C)``,
    ``\\textbf{C}``, ``C.``, ``C) text``). A lower-case letter counts only after an explicit
    answer statement (``anchored``) and alone; ``alone``: nothing but punctuation may follow
    the letter. "D-fructose", "A dominant allele" and "B? Let me check" name no letter."""
    if choices:
        squashed = _squash(fragment)
        options = [_squash(option) for option in choices]
        named = [i for i, option in enumerate(options) if option == squashed]
        if not named:  # an option's text at the head of the fragment ("Paris, because …")
            named = [
                i
                for i, option in enumerate(options)
                if len(option) >= 3 and re.match(re.escape(option) + r"(?![\w-])", squashed)
            ]
        if len(named) == 1:
            return CHOICE_LETTERS[named[0]]
    plain = _WRAPPER.sub("", fragment).replace("\\}", "")
    match = _LEADING_LETTER.match(plain)
    if not match:
        return None
    after = plain[match.end() :]
    if after.startswith("-") or after.lstrip().startswith("?") or _ARTICLE.match(plain.lstrip()):
        return None
    stands_alone = bool(_ALONE.match(after))
    if alone and not stands_alone:
        return None
    if match.group(1).isupper() or (anchored and stands_alone):
        return match.group(1).upper()
    return None


def read_choice(region: str, choices: tuple[str, ...] = ()) -> Answer | None:
    """The letter a multiple-choice completion answers (see the module's reading rule)."""
    boxed = [
        (box.end, letter_of(box.content, choices, anchored=True)) for box in find_boxes(region)
    ]
    boxed = [(end, letter) for end, letter in boxed if letter]
    stated: list[tuple[int, str, bool]] = []
    for match in list(_CHOICE_STATEMENT.finditer(region))[-_LAST_STATEMENTS:]:
        is_answer = bool(match.group("answer"))
        line = region[match.end() : match.end() + _SHORT_ANSWER].split("\n", 1)[0]
        letter = letter_of(line, choices, anchored=True, alone=not is_answer)
        if not letter and choices and is_answer:
            cut = _SENTENCE_END.search(line)
            letter = letter_of(line[: cut.start()] if cut else line, choices, anchored=True)
        if letter:
            stated.append((match.end(), letter, is_answer))
    if boxed:
        # The last box wins, unless an answer statement comes after it.
        later = [(end, letter) for end, letter, is_answer in stated if is_answer]
        later = [(end, letter) for end, letter in later if end > boxed[-1][0]]
        return Answer((later or boxed)[-1][1], "letter")
    if stated:
        return Answer(stated[-1][1], "letter")
    opening = letter_of(region[:_SHORT_ANSWER], choices)  # "A. Because …", "D-fructose, since"
    if opening:
        return Answer(opening, "letter")
    if len(region.strip()) <= _SHORT_ANSWER:
        letters = _PLAIN_LETTER.findall(region)
        return Answer(letters[-1], "letter") if letters else None
    return None  # a long text that never commits to a letter (often cut off): no answer


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
