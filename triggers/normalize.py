"""Normalisation shared by rule phrases and transcripts.

A phrase matches a transcript when both normalise to the same token sequence, so every
insensitivity the product promises lives here and only here:

* case, accents' compatibility forms (NFKC) and punctuation: ``"Cancel!"`` == ``"cancel"``;
  hyphens and slashes split words (``"follow-up"`` == ``"follow up"``), apostrophes vanish
  (``"customer's"`` == ``"customers"``);
* simple plurals: ``"refunds"`` == ``"refund"``, ``"companies"`` == ``"company"``;
* numbers, whether transcribed as digits or words: a maximal run of number tokens becomes one
  token of digits, so ``"four five seven"`` == ``"457"`` == ``"4 5 7"`` and ``"ten thousand"`` ==
  ``"10,000"``. Digits inside a run are joined, which means a rule for ``"two"`` does not fire
  inside the order number ``"one two three"``: numbers compare as whole numbers.

Tokens carry the index of the source word they came from, so matches can be mapped back to
word timings and snippets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

_SPLIT = re.compile(r"[^\w']+|_+")
_APOS = re.compile(r"'+")
_DIGITS = re.compile(r"\d+")

UNITS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    )
}
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
NUMBER_WORDS = frozenset(UNITS) | frozenset(TENS) | frozenset(SCALES)

_NO_STRIP_S = ("ss", "us", "is", "os")


def stem(token: str) -> str:
    """Fold simple English plurals (and third-person -s) onto the singular.

    Deliberately small: the goal is that "refunds", "refund" and "refund's" meet, not a full
    stemmer that would also merge "cancellation" into "cancel" behind the user's back.
    """
    n = len(token)
    if n <= 3 or token.isdigit():
        return token
    if token.endswith("ies") and n > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "shes", "ches", "xes", "zes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(_NO_STRIP_S):
        return token[:-1]
    return token


@lru_cache(maxsize=200_000)
def word_pieces(word: str) -> tuple[str, ...]:
    """One source word → its normalised pieces, before number folding (cached: transcripts
    repeat words far more than they introduce new ones)."""
    text = unicodedata.normalize("NFKC", word).casefold()
    out: list[str] = []
    for piece in _SPLIT.split(text):
        piece = _APOS.sub("", piece)
        if not piece:
            continue
        # "4th", "10am", "x2": letters and digits apart so the digits can fold as numbers
        parts = _DIGITS.split(piece)
        if len(parts) == 1:
            out.append(stem(piece))
            continue
        nums = _DIGITS.findall(piece)
        for i, part in enumerate(parts):
            if part:
                out.append(stem(part))
            if i < len(nums):
                out.append(nums[i])
    return tuple(out)


def _is_number(piece: str) -> bool:
    return piece.isdigit() or piece in NUMBER_WORDS


def _fold_numbers(run: Sequence[str]) -> str:
    """A run of number pieces → one digit string.

    Compound words build one number ("twenty five" → 25, "one hundred and five" was already
    stripped of "and" by the caller → 105); a unit after a unit starts the next number, which is
    how spelled-out codes are said ("four five seven" → 4, 5, 7 → "457").
    """
    numbers: list[str] = []
    total = 0  # completed thousands/millions part of the current number
    current = 0  # below-thousand part being built
    last: str | None = None  # kind of the previous piece: digits|unit|ten|scale
    active = False

    def flush() -> None:
        nonlocal total, current, active
        if active:
            numbers.append(str(total + current))
        total, current, active = 0, 0, False

    for p in run:
        if p.isdigit():
            flush()
            numbers.append(p)
            last = "digits"
            continue
        if p in UNITS:
            v = UNITS[p]
            # "twenty five" continues; "five five" or "ten one" starts a new number
            if active and ((last == "ten" and v < 10) or last == "scale"):
                current += v
            else:
                flush()
                current, active = v, True
            last = "unit"
        elif p in TENS:
            if active and last == "scale":
                current += TENS[p]
            else:
                flush()
                current, active = TENS[p], True
            last = "ten"
        else:  # scale
            scale = SCALES[p]
            if not active:
                current, active = 1, True
            if scale == 100:
                current = (current or 1) * 100
            else:
                total += (current or 1) * scale
                current = 0
            last = "scale"
    flush()
    return "".join(numbers)


def normalize_pieces(pieces: Sequence[str]) -> list[tuple[str, int, int]]:
    """Fold number runs in a piece sequence; returns (token, first_piece, last_piece)."""
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(pieces)
    while i < n:
        p = pieces[i]
        if not _is_number(p):
            out.append((p, i, i))
            i += 1
            continue
        j = i
        run: list[str] = []
        while j < n:
            q = pieces[j]
            if _is_number(q):
                run.append(q)
                j += 1
            elif (
                q == "and"
                and run
                and run[-1] in SCALES
                and j + 1 < n
                and (pieces[j + 1] in UNITS or pieces[j + 1] in TENS)
            ):
                j += 1  # "one hundred and five"
            else:
                break
        out.append((_fold_numbers(run), i, j - 1))
        i = j
    return out


@lru_cache(maxsize=200_000)
def _word_info(word: str) -> tuple[tuple[str, ...], bool]:
    pieces = word_pieces(word)
    return pieces, any(_is_number(p) for p in pieces)


def normalize_arrays(words: Sequence[str]) -> tuple[list[str], list[int], list[int]]:
    """Source words → (tokens, first source word of each, last source word of each).

    The hot path of matching (every word of every call goes through it), hence parallel lists
    and a fast lane for the common case of a segment without numbers."""
    infos = [_word_info(w) for w in words]
    if all(len(p) == 1 for p, _ in infos) and not any(n for _, n in infos):
        idx = list(range(len(infos)))
        return [p[0] for p, _ in infos], idx, idx
    pieces: list[str] = []
    owner: list[int] = []
    for wi, (ps, _) in enumerate(infos):
        pieces.extend(ps)
        owner.extend([wi] * len(ps))
    folded = normalize_pieces(pieces)
    return (
        [tok for tok, _, _ in folded],
        [owner[a] for _, a, _ in folded],
        [owner[b] for _, _, b in folded],
    )


def normalize_words(words: Iterable[str]) -> list[tuple[str, int, int]]:
    """Source words → tokens as (token, first_word_index, last_word_index)."""
    toks, first, last = normalize_arrays(list(words))
    return list(zip(toks, first, last, strict=True))


def normalize_text(text: str) -> list[str]:
    """Plain text → its token sequence (how rule phrases are compiled)."""
    return [tok for tok, _, _ in normalize_words(text.split())]


def split_words(text: str) -> list[str]:
    """Whitespace words of a segment's text, for transcripts without word timings."""
    return text.split()
