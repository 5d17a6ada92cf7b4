"""The word error rate the transcription tests and benchmarks report (tests.support.wer)."""

from tests.support import wer


def test_contractions_are_the_same_words() -> None:
    assert wer("I am sorry, we will not", "I'm sorry, we won't") == 0.0
    assert wer("they are here", "they\u2019re here") == 0.0


def test_digits_are_spoken_digits() -> None:
    assert wer("order four five seven", "order 457") == 0.0


def test_errors_still_count() -> None:
    assert wer("I am sorry to hear that", "I'm sorry to hear it") == 1 / 6
    assert wer("charged twice", "charge twice") == 0.5
    assert wer("hello", "") == 1.0
