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
   With no statement either, a **concluding sentence** that ends the text (but for "I hope it
   is correct" and chat-template tokens) and opens with "Therefore", "Thus", "So", "Hence", "In
   conclusion", "Consequently" or "Finally" gives the expression after its last "is", "are",
   "=", "by" ("Therefore, the probability is 2/3." gives 2/3; "So there are 12 sequences"
   gives 12); with a negation in it, or a sentence after it, it gives none.
4. **Last number** — only where the benchmark's convention allows it (form ``gsm8k``): the last
   line that holds a digit, read as a LaTeX or plain expression (``$\\frac{5}{6}$`` is 5/6,
   ``10^3`` is 1000), not as a digit run; none when the text ends mid-statement, as a
   reasoning cut off at the token limit does (in an operator, an open bracket, ``<<3*4=`` or a
   word that needs a continuation: "so she makes 16 * 2 =", "she has 5 left for").

Multiple choice (form ``choice``) reads a letter A–D: the last *committed* choice wins.
Commitments are boxes that name an option (``\\boxed{C}``, ``\\boxed{\\textbf{(C)}}``), answer
statements (``**Answer:** C``, ``Answer: "C"``, ``The answer is for sure D``, "Final choice:
(B)", "my final option is C", "I'll go with D", "it should be (C)", "switch to B"), a letter
said to be right ("(C) is correct", "C is the right answer"; not "(C) would be correct" nor
"(C) is correct if …") and a bold letter that ends its line (``**B**``); a later one replaces
an earlier one, so a correction after the box wins. A letter set aside — after a negation
("cannot be (A)", "not B", "rule out C and D", "rather than A") or before a rejection ("(A) is
wrong", "B fails") — is no choice, and setting aside the current choice retracts it
(``\\boxed{B}. Hmm, actually B is wrong.`` has no answer). "Option C" / "Choice: (D)" opening a
line count only where there is no commitment, and only when the letter stands alone ("Option
A: too small" in a rundown of the options does not). A committed answer may name an option by
its content: its exact text, also at its head ("D-fructose, since …"; LaTeX spacing and
``\\text`` ignored, so ``\\boxed{3.2\\ \\text{eV}}`` is the option "3.2 eV"), its mathematical
value (``\\boxed{0.5}`` is the option ``$\\frac{1}{2}$``, by the equivalence below, when exactly
one option has it) or its ordinal ("the third option"); an option text that starts like a
letter ("D-fructose", "A dominant …") is never read as the letter. Without any of these: a
letter that opens the text (``**D) …**``, ``A. Because …``); and only in a short text (≤ 300
characters), the last standalone capital letter that is not set aside. A long text that never
commits to a letter — typically cut off at the token limit — has no answer, so that cut-off
outputs do not score 1 in 4 by chance.

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

**Equivalence.** math-verify's, with three rules of our own before it. A decimal meets an
exact value only where it is that value: 0.25 is 1/4, but the truncations 0.142857 and 1.414
are not 1/7 and √2 (math-verify alone accepts a close float), since MATH asks for exact
answers; a decimal gold is met by a decimal of the same value (0.50 is 0.5) or by an exact
answer that rounds to it at the gold's places (1/3 meets 0.33, √2 meets 1.41). A one-column
or one-row matrix is the tuple of its entries (``\\begin{pmatrix} -3 \\\\ 6 \\end{pmatrix}`` is
``(-3, 6)``). A math item whose gold is an option letter is met by an answer that names that
letter (``\\boxed{C. x = 42}`` meets C).

Each item is sampled n times; the item scores are the mean accuracy (avg@n) and the unbiased
pass@k estimator 1 − C(n−c, k)/C(n, k).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from math import comb

# Changes whenever the reading rule or the equivalence check changes: results and provenance
# record it, so a reader knows which rule scored a run. Version 1 read only the last box;
# version 2 added statements and the multiple-choice wrappings; version 3 the last committed
# choice, options named by content, concluding sentences and the exact-decimal rule.
GRADER_VERSION = "3"
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
        \\text\s*\{(?:\s|,|\b(?:and|or|for|part)\b|\(\w\))*\}|\b(?:and|or)\b)*""",
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


# A concluding sentence that states the result without the word "answer" ("Therefore, the
# probability is 2/3.", "So there are 12 sequences."): read where nothing else is, as the
# expression after its last "is"/"are"/"="/"by". It must end the text (but for "I hope it is
# correct" and chat-template tokens), and a negation or question in it is no answer.
_CONCLUSION = re.compile(
    r"(?<![\w,;])\s*(?:Therefore|Thus|So|Hence|In\s+conclusion|Consequently|"
    r"Finally)\b,?\s+"
)
_TEXT_TAIL = re.compile(
    r"(?:\s|<\|[\w-]{1,20}\|>\w*|I\s+hope\s+it\s+is\s+correct\.?)*\Z", re.IGNORECASE
)
_VERB = re.compile(r"\s(?:is|are|was|were|equals|by|be)\s|=")
_RESULT = re.compile(r"\s*(?:\$[^$]+\$|\\\(.+?\\\)|-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?\s*%?)")
_SENTENCE_STOP = re.compile(r"[.!?](?=\s|$)")


def _conclusion_answer(text: str) -> Answer | None:
    tail = text[-_WINDOW:]
    opening = list(_CONCLUSION.finditer(tail))
    if not opening:
        return None
    sentence = tail[opening[-1].end() :]
    spans = [(m.start(), m.end()) for m in _MATH_SPAN.finditer(sentence)]
    stops = [
        m
        for m in _SENTENCE_STOP.finditer(sentence)
        if not any(a <= m.start() < b for a, b in spans)
    ]
    end = stops[0].start() if stops else len(sentence.rstrip())
    after = stops[0].end() if stops else end
    if not _TEXT_TAIL.match(sentence, after) or (stops and stops[0].group() == "?"):
        return None  # not the last sentence, or a question
    sentence = sentence[:end]
    if re.search(r"\b(?:not|cannot|no|never|isn't|aren't)\b", sentence):
        return None
    verbs = list(_VERB.finditer(sentence))
    result = _RESULT.match(sentence, verbs[-1].end()) if verbs else None
    if not result or not parse_math(result.group()):
        return None
    return Answer(result.group().strip(), "conclusion")


# A GSM8K reasoning cut off at the token limit ends mid-statement: in an operator, an open
# bracket or formula, or a word that needs a continuation ("… so she makes 16 * 2 =",
# "… she has 5 left for", "… <<3*4="). Its last number is not what it would have answered.
_DANGLING = re.compile(
    r"""(?:[-=+*/×÷^,(\[{]|<<[^>]*|\b(?:of|the|a|an|and|or|is|are|was|were|to|from|by|with|for|
        at|that|which|then|she|he|they|we|her|his|their|each|per|both|plus|minus|times|makes|
        gets|has|have|had|will|be|would|can|than|into)\b)\s*\Z""",
    re.IGNORECASE | re.VERBOSE,
)


def _cut_off(text: str) -> bool:
    """Whether the text ends mid-statement (GSM8K's ``$`` is a currency: no formula check)."""
    return bool(_DANGLING.search(text.rstrip()[-_WINDOW:]))


def _last_line_answer(text: str) -> Answer | None:
    if _cut_off(text):
        return None
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
    found = _statement_answer(statements) or _conclusion_answer(region)
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
# "**Answer:** A"), a stated choice ("Final choice: (B)", "my option is C", "I'll go with D",
# "it must be (C)", "switch to B"); "Option"/"Choice" alone only where they open a line, and
# then the letter must stand alone ("Option C", "Choice: (D)"), so that "Option A: too small" in
# a rundown of the options, or "answer (A) would be right if", is not read as an answer.
_CHOICE_STATEMENT = re.compile(
    r"""(?:\b(?P<answer>(?:final\s+)?answer)[*_]{0,2}\s*
            (?:(?:is|would\s+be|will\s+be)\b|[:：]|[–—-])
        |\b(?P<stated>(?:(?:final|my|correct|right|best)\s+(?:choice|option|pick|selection)
              |(?:the\s+)?(?:correct|right|best)\s+(?:one))[*_]{0,2}\s*
              (?:(?:is|would\s+be|will\s+be)\b|[:：])
            |I\s*(?:will\s+|'ll\s+|would\s+|shall\s+)?(?:choose|pick|select|go\s+with|opt\s+for|
              settle\s+on)\b
            |\b(?:it|this|that)\s+(?:should|must|has\s+to)\s+be\b
            |\b(?:change|switch|correct)\s+(?:my\s+(?:answer|choice)\s+)?to\b)
        |^[\s*_#>-]*(?:choice|option)[*_]{0,2}\s*[:：]?)
        [*_]{0,2}\s*
        (?:(?:for\s+sure|definitely|clearly|probably|likely|therefore|thus|then|correct|option|
            choice)[\s,:]+)*""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)
# A letter committed to after it is named: "(C) is correct", "C is the right answer", a bold
# letter that ends its line ("**B**"). Not "(A) is correct if …" nor "(A) would be correct".
_LETTER = r"[(\[]?\s*([A-D])\s*[)\]]?"
_COMMITTED_AFTER = re.compile(
    rf"""(?:(?<![\w-]){_LETTER}[*_]{{0,2}}\s+(?:is|must\s+be|should\s+be)\s+(?:indeed\s+)?
            (?:the\s+)?(?:correct|right|best|final)\b(?:\s+(?:answer|option|choice|one))?
            (?!\s*(?:if|only|when|unless|provided|for)\b)
        |(?<![\w-]){_LETTER}\s+is\s+the\s+answer\b(?!\s*(?:if|only|when|unless)\b)
        |^[\s>-]*\*\*\s*{_LETTER}[.:]?\s*\*\*[\s.]*$)""",
    re.VERBOSE | re.MULTILINE,
)
# A letter set aside: named after a negation ("cannot be (A)", "not B", "rule out C and D",
# "rather than A") or before a rejection ("(A) is wrong", "B fails", "C and D are incorrect").
_LETTER_LIST = rf"{_LETTER}(?![\w-])(?:\s*(?:,|\bor\b|\band\b|\bnor\b)\s*{_LETTER}(?![\w-]))*"
_DISCARDED = re.compile(
    rf"""(?:\b(?:not|cannot\s+be|can'?t\s+be|isn'?t|never|rule\s+out|rules\s+out|ruling\s+out|
            ruled\s+out|eliminat(?:e|es|ed|ing)|exclud(?:e|es|ed|ing)|rather\s+than|instead\s+of|
            reject(?:s|ed|ing)?|discard(?:s|ed|ing)?)\s+(?:option\s+|choice\s+)?
            (?P<before>{_LETTER_LIST})
        |(?<![\w-])(?P<after>{_LETTER_LIST})[*_]{{0,2}}\s*[:,]?\s*(?:is|are)?\s*
            (?:also\s+|both\s+|clearly\s+|definitely\s+)?
            (?:wrong|incorrect|false|ruled\s+out|eliminated|excluded|impossible|invalid|
            not\s+(?:correct|right|the\s+answer)|fails?)\b)""",
    re.IGNORECASE | re.VERBOSE,
)
_ALONE = re.compile(r"[\s.)\]\"'*_:!]*$")
_PLAIN_LETTER = re.compile(r"(?:^|(?<=[\s(\[*_\"']))([A-D])(?=$|[\s.,:;)\]*_\"'!])(?!\s*\?)")
_ARTICLE = re.compile(r"A\s+(?!(?:because|since|as|is|was|seems|looks|would|and|or)\b)[a-z]")
_ORDINAL = re.compile(
    r"(?:the\s+)?(first|second|third|fourth|1st|2nd|3rd|4th)(?:\s+(?:option|choice|one|answer))?"
)
_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "1st": 0, "2nd": 1, "3rd": 2}
_SHORT_ANSWER = 300  # characters: a text this short that names one letter last is an answer


def _squash(text: str) -> str:
    text = re.sub(r"\\[ ,;:!>]|~", " ", text)  # LaTeX spacing ("3.2\ \text{eV}") is a space
    text = _WRAPPER.sub("", text).replace("}", "").replace("{", "")
    return re.sub(r"\s+", " ", text).strip(" .*_\"'`$").lower()


def _option_by_value(fragment: str, choices: tuple[str, ...]) -> str | None:
    """The one option whose mathematical value the fragment has (``\\frac{1}{2}`` for "0.5")."""
    if not re.search(r"\d", fragment) or not parse_math(_as_latex(fragment.strip("$ "))):
        return None
    same = [
        i
        for i, option in enumerate(choices)
        if re.search(r"\d", option)
        and is_equivalent(_as_latex(fragment.strip("$ ")), option, "boxed")
    ]
    return CHOICE_LETTERS[same[0]] if len(same) == 1 else None


def letter_of(
    fragment: str, choices: tuple[str, ...] = (), anchored: bool = False, alone: bool = False
) -> str | None:
    """The option letter a box content or statement names: the exact text of one option (also
    at the head of the fragment), else the letter in its usual wrappings (``(C)``,
    ``\\textbf{C}``, ``C.``, ``C) text``), else, where the fragment is a committed answer
    (``anchored``), an option's mathematical value or its ordinal ("the second option"). A
    lower-case letter counts only when anchored and alone; ``alone``: nothing but punctuation
    may follow the letter. "D-fructose", "A dominant allele" and "B? Let me check" name no
    letter."""
    squashed = _squash(fragment)
    if choices:
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
        if not anchored:
            return None
        ordinal = _ORDINAL.fullmatch(squashed)
        if ordinal and ordinal.group(1) in _ORDINALS:
            return CHOICE_LETTERS[_ORDINALS[ordinal.group(1)]]
        return _option_by_value(fragment, choices) if choices and not alone else None
    after = plain[match.end() :]
    if after.startswith("-") or after.lstrip().startswith("?") or _ARTICLE.match(plain.lstrip()):
        return None
    stands_alone = bool(_ALONE.match(after))
    if alone and not stands_alone:
        return None
    if match.group(1).isupper() or (anchored and stands_alone):
        return match.group(1).upper()
    return None


@dataclass(frozen=True)
class _Choice:
    """One event of a multiple-choice reading: a letter committed to, or set aside."""

    at: int  # where in the text
    letter: str
    strong: bool  # a box or an answer statement; else a line-opening "Option C"
    committed: bool = True  # False: the letter is set aside ("cannot be (A)")


def _stated_choices(region: str, choices: tuple[str, ...]) -> list[_Choice]:
    events = []
    for match in list(_CHOICE_STATEMENT.finditer(region))[-_LAST_STATEMENTS:]:
        is_answer = bool(match.group("answer") or match.group("stated"))
        line = region[match.end() : match.end() + _SHORT_ANSWER].split("\n", 1)[0]
        letter = letter_of(line, choices, anchored=True, alone=not is_answer)
        if not letter and choices and is_answer:
            cut = _SENTENCE_END.search(line)
            letter = letter_of(line[: cut.start()] if cut else line, choices, anchored=True)
        if letter:
            events.append(_Choice(match.end(), letter, is_answer))
    for match in list(_COMMITTED_AFTER.finditer(region))[-_LAST_STATEMENTS:]:
        letter = next(group for group in match.groups() if group)
        events.append(_Choice(match.start(), letter, True))
    return events


def _discarded_choices(region: str) -> list[_Choice]:
    events = []
    for match in list(_DISCARDED.finditer(region))[-_LAST_STATEMENTS:]:
        listed = match.group("before") or match.group("after")
        for letter in re.findall(r"(?<![\w-])([A-D])(?![\w-])", listed):
            events.append(_Choice(match.start(), letter, True, committed=False))
    return events


def _last_committed(events: list[_Choice]) -> str | None:
    """The letter the events end on: each commitment replaces the choice, and setting aside the
    current letter retracts it (no answer until the next commitment)."""
    current = None
    for event in sorted(events, key=lambda event: event.at):
        if event.committed:
            current = event.letter
        elif event.letter == current:
            current = None
    return current


def read_choice(region: str, choices: tuple[str, ...] = ()) -> Answer | None:
    """The letter a multiple-choice completion answers (see the module's reading rule)."""
    boxed = [
        _Choice(box.start, letter, True)
        for box in find_boxes(region)
        if (letter := letter_of(box.content, choices, anchored=True))
    ]
    stated = _stated_choices(region, choices)
    discarded = _discarded_choices(region)
    strong = boxed + [event for event in stated if event.strong]
    if strong:
        letter = _last_committed(strong + discarded)
        return Answer(letter, "letter") if letter else None
    if stated:  # only line-opening "Option C" / "Choice: D"
        letter = _last_committed(stated + discarded)
        return Answer(letter, "letter") if letter else None
    set_aside = {event.letter for event in discarded}
    opening = letter_of(region[:_SHORT_ANSWER], choices)  # "A. Because …", "D-fructose, since"
    if opening and opening not in set_aside:
        return Answer(opening, "letter")
    if len(region.strip()) <= _SHORT_ANSWER:
        letters = [letter for letter in _PLAIN_LETTER.findall(region) if letter not in set_aside]
        return Answer(letters[-1], "letter") if letters else None
    return None  # a long text that never commits to a letter (often cut off): no answer


# --- verdicts --------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _parse_gold(gold: str, guarded: bool = True) -> tuple:
    return parse_math(_as_latex(gold), guarded)


_MATRIX = re.compile(r"\\begin\{([pbvB]?matrix)\}(.*?)\\end\{\1\}", re.DOTALL)
_DECIMAL = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d*)\.(\d+)")


def _vector_as_tuple(text: str) -> str:
    """A one-column or one-row matrix written as the tuple it is (``(-3, 6, -3)``)."""

    def as_tuple(match: re.Match) -> str:
        body = match.group(2).strip().removesuffix("\\\\").strip()
        rows = [row.strip() for row in body.split("\\\\")]
        if len(rows) > 1 and not any("&" in row for row in rows):
            return f"({', '.join(rows)})"
        if len(rows) == 1 and "&" in rows[0]:
            return f"({', '.join(cell.strip() for cell in rows[0].split('&'))})"
        return match.group()

    return _MATRIX.sub(as_tuple, text) if "matrix" in text else text


def _decimal_places(parsed: tuple) -> int | None:
    """Decimal places of a plain decimal number (``0.142857`` → 6); None for anything else."""
    import sympy

    if len(parsed) < 2 or not isinstance(parsed[0], sympy.Float):
        return None
    literal = _DECIMAL.fullmatch(str(parsed[1]).strip())
    return len(literal.group(1)) if literal else None


def _exact_decimal_verdict(pred: tuple, gold: tuple) -> bool | None:
    """The exact-value rule where a decimal meets another number; None where it does not apply.

    A decimal answer equals an exact gold only if it is exactly that value (0.25 is 1/4; the
    truncations 0.142857 and 1.414 are not 1/7 and √2). A decimal gold is met by a decimal of
    the same value (0.50 is 0.5) or by an exact answer that rounds to it at the gold's places
    (1/3 is 0.33; √2 is 1.41)."""
    import sympy

    pred_places, gold_places = _decimal_places(pred), _decimal_places(gold)
    if pred_places is None and gold_places is None:
        return None
    pred_value, gold_value = pred[0], gold[0]
    if not all(isinstance(v, sympy.Basic) and v.is_number for v in (pred_value, gold_value)):
        return None
    as_rational = {}
    for side, value, places in (
        ("pred", pred_value, pred_places),
        ("gold", gold_value, gold_places),
    ):
        literal = _DECIMAL.fullmatch(str(pred[1] if side == "pred" else gold[1]).strip())
        exact = sympy.Rational(literal.group().replace(",", "")) if places is not None else value
        as_rational[side] = exact
    try:  # math-verify leaves some products unevaluated (10*(1/100))
        difference = sympy.simplify(as_rational["pred"] - as_rational["gold"])
        if gold_places is not None and pred_places is None:  # an exact answer to a decimal gold
            return bool(sympy.N(abs(difference), 30) <= sympy.Rational(1, 2 * 10**gold_places))
        return difference == 0 or bool(difference.equals(0))
    except (TypeError, ValueError, AttributeError):  # an expression sympy cannot decide
        return None


def _letter_verdict(predicted: str, gold: str) -> bool | None:
    """A math item whose gold is an option letter: the letter the answer names (``C. x = 42``)."""
    if not re.fullmatch(r"\(?[A-E]\)?", gold.strip()):
        return None
    letter = letter_of(predicted.strip().strip("$"), anchored=True)
    return letter == gold.strip().strip("()") if letter else None


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
        by_letter = _letter_verdict(predicted, gold)
        if by_letter is not None:
            return by_letter
        pred_parsed = parse_math(_vector_as_tuple(predicted))
        gold_parsed = _parse_gold(_vector_as_tuple(gold))
        by_value = _exact_decimal_verdict(pred_parsed, gold_parsed) if gold_parsed else None
        if pred_parsed and by_value is not None:
            return by_value
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
