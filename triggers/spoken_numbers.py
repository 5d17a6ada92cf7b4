"""Spoken numbers → digits in display text, for people, search and CRM notes.

``"My order number is four five seven two nine."`` → ``"My order number is 45729."``;
``"twenty five pounds"`` → ``"£25"``; ``"ten percent"`` → ``"10%"``; ``"one hundred and
five"`` → ``"105"``. Everything else — words, case, punctuation — is left exactly as the engine
wrote it, and the raw text is kept next to this one (``TranscriptSegment.text``), so the change
is reversible.

What becomes digits: a run of two or more number words (spelled-out digits, compounds), a
single number word of ten or more, or any number followed by a currency or percent word. A lone
small number stays a word ("one of them", "at nine") — prose reads better, and keyword rules
compare numbers either way (``triggers.normalize`` folds words and digits alike).

Four or more single digits read out one by one become one digit string even when the engine
wrote them apart — "six, zero, four, one, two", "1, 2, 3, 4", "1-2-3-4" → ``60412``/``1234``:
that is how a code is read out, and how the keyword matcher already sees it (it ignores the
punctuation). Three or fewer stay as written ("four, five, six" may be a list).
"""

from __future__ import annotations

import re

from triggers.normalize import SCALES, TENS, UNITS, _fold_numbers

_WORD = re.compile(r"^(?P<pre>[^\w]*)(?P<core>[A-Za-z]+(?:-[A-Za-z]+)*)(?P<post>[^\w]*)$")
NUMBER_WORDS = frozenset(UNITS) | frozenset(TENS) | frozenset(SCALES)
# word (singular and plural) -> (symbol, goes before the number?)
CURRENCY = {
    "dollar": ("$", True),
    "dollars": ("$", True),
    "pound": ("£", True),
    "pounds": ("£", True),
    "euro": ("€", True),
    "euros": ("€", True),
    "percent": ("%", False),
    "per cent": ("%", False),
}


_SINGLE = {w: str(v) for w, v in UNITS.items() if v < 10} | {str(d): str(d) for d in range(10)}
_DIGIT_TOKEN = re.compile(r"^(?P<core>[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)(?P<post>[,.;:?!]*)$")
MIN_READ_OUT = 4


def _read_out(tokens: list[str], i: int) -> tuple[str, str, int] | None:
    """Single digits read out one by one from ``tokens[i]``, apart by commas, hyphens or
    spaces: (the digits, the last token's trailing punctuation, index after the run), when
    there are at least MIN_READ_OUT of them and the engine wrote them apart by a comma or a
    hyphen (space-separated spelled-out runs are the general path's)."""
    digits, marked, j, post = "", False, i, ""
    while j < len(tokens):
        m = _DIGIT_TOKEN.match(tokens[j])
        parts = m.group("core").lower().split("-") if m else []
        if not parts or not all(p in _SINGLE for p in parts):
            break
        digits += "".join(_SINGLE[p] for p in parts)
        post = m.group("post") if m else ""
        marked = marked or len(parts) > 1 or post == ","
        j += 1
        if post not in ("", ","):
            break
    if len(digits) < MIN_READ_OUT or not marked:
        return None
    return digits, post, j


def _parts(token: str) -> tuple[str, list[str], str] | None:
    """A whitespace token → (leading punctuation, number words, trailing punctuation) when the
    token is made only of number words ("twenty-five," → ("", ["twenty", "five"], ","))."""
    m = _WORD.match(token)
    if not m:
        return None
    words = m.group("core").lower().split("-")
    if not all(w in NUMBER_WORDS for w in words):
        return None
    return m.group("pre"), words, m.group("post")


def _value_ok(words: list[str]) -> bool:
    """Worth writing as digits on its own: two or more words, or a number of ten or more."""
    if len(words) >= 2:
        return True
    w = words[0]
    return w in TENS or w in SCALES or UNITS.get(w, 0) >= 10


def _unit_after(tokens: list[str], j: int, post: str) -> tuple[tuple[str, bool] | None, str, int]:
    """A currency or percent word at ``tokens[j]`` (one or two words): (unit, its trailing
    punctuation, index after it); (None, post, j) when there is none."""
    m1 = _WORD.match(tokens[j])
    if m1 is None:
        return None, post, j
    word = m1.group("core").lower()
    if j + 1 < len(tokens) and not m1.group("post"):
        m2 = _WORD.match(tokens[j + 1])
        if m2 is not None and f"{word} {m2.group('core').lower()}" in CURRENCY:
            return CURRENCY[f"{word} {m2.group('core').lower()}"], m2.group("post"), j + 2
    if word in CURRENCY:
        return CURRENCY[word], m1.group("post"), j + 1
    return None, post, j


def normalize_numbers(text: str) -> str:
    """``text`` with its spoken numbers as digits (see the module docstring)."""
    tokens = text.split()
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        read_out = _read_out(tokens, i)
        if read_out is not None:
            digits, post, i = read_out
            out.append(f"{digits}{post}")
            continue
        first = _parts(tokens[i])
        if first is None:
            out.append(tokens[i])
            i += 1
            continue
        pre, words, post = first
        j = i + 1
        # extend the run while the previous token had no trailing punctuation
        while not post and j < n:
            nxt = _parts(tokens[j])
            if nxt is not None and not nxt[0]:
                words += nxt[1]
                post = nxt[2]
                j += 1
            elif (
                tokens[j].lower() == "and"
                and words[-1] in SCALES
                and j + 1 < n
                and (p := _parts(tokens[j + 1])) is not None
                and not p[0]
                and p[1][0] not in SCALES
            ):
                words += p[1]
                post = p[2]
                j += 2  # "one hundred and five"
            else:
                break
        unit = None
        if not post and j < n:
            unit, post, j = _unit_after(tokens, j, post)
        if unit is None and not _value_ok(words):
            out.extend(tokens[i:j])
            i = j
            continue
        digits = _fold_numbers(words)
        if unit is not None:
            symbol, before = unit
            digits = f"{symbol}{digits}" if before else f"{digits}{symbol}"
        out.append(f"{pre}{digits}{post}")
        i = j
    return " ".join(out)
