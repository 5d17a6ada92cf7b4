"""Spoken numbers → digits in display text; everything else untouched."""

from __future__ import annotations

import pytest

from triggers.normalize import normalize_text
from triggers.spoken_numbers import normalize_numbers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("My order number is four five seven two nine.", "My order number is 45729."),
        ("It costs twenty five pounds, or ten percent off.", "It costs £25, or 10% off."),
        ("I paid five dollars.", "I paid $5."),
        ("ten per cent.", "10%."),
        ("one hundred and five people", "105 people"),
        ("Twenty-five years", "25 years"),
        ("two thousand and twenty six", "2026"),
        ("We open at nine and close at five.", "We open at nine and close at five."),
        ("one of them, and the other one", "one of them, and the other one"),
        ("Four, five, six.", "Four, five, six."),  # a list, not a code
        # four or more single digits read out one by one are a code, however they were written
        ("the invoice number is six, zero, four, one, two.", "the invoice number is 60412."),
        ("My postcode is 1, 2, 3, 4.", "My postcode is 1234."),
        ("code 1-2-3-4 please", "code 1234 please"),
        ("three, three, five, one, and then", "3351, and then"),
        ("items one, two, three and four", "items one, two, three and four"),
        ("fifteen", "15"),
        ("no numbers here at all", "no numbers here at all"),
        ("Already 4.5 digits", "Already 4.5 digits"),
    ],
)
def test_display_normalisation(raw, expected):
    assert normalize_numbers(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "order four five seven two nine",
        "twenty five",
        "one hundred and five",
        "at nine",
        "number six, zero, four, one, two.",
        "code 1-2-3-4",
    ],
)
def test_rule_tokens_are_the_same_for_raw_and_normalised_numbers(raw):
    # a rule written "45729" or "four five seven two nine" matches either text
    assert normalize_text(normalize_numbers(raw)) == normalize_text(raw)
