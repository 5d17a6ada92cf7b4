from __future__ import annotations

import pytest

from triggers.normalize import normalize_text, normalize_words, stem


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Cancel!", "cancel"),
        ("CANCEL, my Subscription.", "cancel my subscription"),
        ("refunds", "refund"),
        ("companies", "company"),
        ("matches", "match"),
        ("boxes", "box"),
        ("customer's", "customers"),
        ("follow-up", "follow up"),
        ("don't", "dont"),
        ("café", "CAFÉ"),
    ],
)
def test_same_tokens(a: str, b: str) -> None:
    assert normalize_text(a) == normalize_text(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("cancel", "cancellation"),  # no stemming beyond simple plurals
        ("status", "statu"),
        ("two", "one two three"),  # a number compares whole
        ("ten", "one"),
    ],
)
def test_different_tokens(a: str, b: str) -> None:
    assert normalize_text(a) != normalize_text(b)


@pytest.mark.parametrize(
    ("words", "digits"),
    [
        ("four five seven two nine", "45729"),
        ("4 5 7 2 9", "45729"),
        ("4-5-7-2-9", "45729"),
        ("45729", "45729"),
        ("ten thousand", "10000"),
        ("10,000", "10000"),
        ("twenty five", "25"),
        ("one hundred and five", "105"),
        ("two hundred thirty four thousand five hundred sixty seven", "234567"),
        ("three thousand twenty", "3020"),
        ("hundred", "100"),
        ("zero", "0"),
    ],
)
def test_numbers_as_digits_or_words(words: str, digits: str) -> None:
    assert normalize_text(words) == [digits]


def test_numbers_apart_stay_apart() -> None:
    assert normalize_text("open at nine and close at five") == [
        "open",
        "at",
        "9",
        "and",
        "close",
        "at",
        "5",
    ]
    # "and" joins only inside a number ("hundred and five"), not between two numbers
    assert normalize_text("nine and five") == ["9", "and", "5"]


def test_letters_and_digits_split() -> None:
    assert normalize_text("10am") == ["10", "am"]


def test_tokens_know_their_source_words() -> None:
    toks = normalize_words(["My", "order", "is", "four", "five,", "follow-up."])
    assert toks == [
        ("my", 0, 0),
        ("order", 1, 1),
        ("is", 2, 2),
        ("45", 3, 4),
        ("follow", 5, 5),
        ("up", 5, 5),
    ]


def test_stem_leaves_short_words() -> None:
    assert [stem(w) for w in ("is", "was", "has", "bus", "class")] == [
        "is",
        "was",
        "has",
        "bus",
        "class",
    ]


def test_punctuation_only_is_empty() -> None:
    assert normalize_text("... !!! --") == []
