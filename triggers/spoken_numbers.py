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
