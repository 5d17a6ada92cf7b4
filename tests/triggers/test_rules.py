"""Every rule feature and its edges, on hand-built transcripts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from catalog.models import Speaker
from tests.triggers.helpers_triggers import rule, seg, transcript
from triggers import RuleSet, compile_rules


def fired(rules, t, duration=None) -> set[str]:
    return {m.rule for m in compile_rules(list(rules)).evaluate(t, duration)}


# ---------------------------------------------------------------- models


def test_rule_needs_some_phrases() -> None:
    with pytest.raises(ValidationError, match="empty phrase lists"):
        rule(any=[], all=[], none=[])


def test_phrase_without_words_is_refused() -> None:
    with pytest.raises(ValidationError, match="no words"):
        rule(any=["?!"])


@pytest.mark.parametrize(
    "window",
    [
        {},
        {"first_seconds": 10, "last_seconds": 10},
        {"first_seconds": 0},
        {"start_seconds": 20, "end_seconds": 10},
        {"first_seconds": -1},
        {"first": 10},
    ],
)
def test_bad_windows(window: dict) -> None:
    with pytest.raises(ValidationError):
        rule(any=["x"], window=window)


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ValidationError):
        rule(any=["x"], speakr="caller")


def test_duplicate_rule_names() -> None:
    with pytest.raises(ValidationError, match="twice"):
        RuleSet(rules=[rule(name="a", any=["x"]), rule(name="a", any=["y"])])


def test_version_changes_with_rules() -> None:
    a = RuleSet(rules=[rule(any=["x"])])
    assert a.version == RuleSet(rules=[rule(any=["x"])]).version
    assert a.version != RuleSet(rules=[rule(any=["y"])]).version


def test_default_template() -> None:
    r = rule(any=["x"], actions=[{"connector": "slack"}])
    assert r.actions[0].template == "keyword_alert"


# ---------------------------------------------------------------- any / all / none

CALL = transcript(
    seg("callee", 0.0, 4.0, "Thank you for calling Acme, this call is recorded."),
    seg("caller", 5.0, 9.0, "Hi, I want to cancel my subscription."),
    seg("callee", 10.0, 14.0, "I can offer a refund, let me get my manager."),
    seg("caller", 15.0, 18.0, "Your competitor is cheaper. Bye."),
)


def test_any() -> None:
    assert fired([rule(any=["nothing here", "CANCEL"])], CALL) == {"r"}
    assert fired([rule(any=["nothing here"])], CALL) == set()


def test_all() -> None:
    assert fired([rule(all=["cancel", "competitor"])], CALL) == {"r"}
    assert fired([rule(all=["cancel", "lawyer"])], CALL) == set()


def test_none() -> None:
    assert fired([rule(none=["lawyer"])], CALL) == {"r"}
    assert fired([rule(none=["this call is recorded"])], CALL) == set()


def test_any_and_none_combined() -> None:
    assert fired([rule(any=["cancel"], none=["lawyer"])], CALL) == {"r"}
    assert fired([rule(any=["cancel"], none=["refund"])], CALL) == set()


def test_absence_match_spans_the_window() -> None:
    r = rule(none=["lawyer"], speaker="callee", window={"first_seconds": 30})
    (m,) = compile_rules([r]).evaluate(CALL, 60.0)
    assert (m.kind, m.phrase, m.speaker, m.start, m.end) == (
        "absent",
        "lawyer",
        Speaker.callee,
        0.0,
        30.0,
    )


def test_disabled_rule_never_fires() -> None:
    assert (
        fired(
            [rule(any=["cancel"], enabled=False), rule(name="b", none=["x"], enabled=False)], CALL
        )
        == set()
    )


def test_plural_and_case_insensitive() -> None:
    t = transcript(seg("caller", 0, 3, "I want REFUNDS for both Companies."))
    assert fired([rule(all=["refund", "company"])], t) == {"r"}


def test_word_boundaries() -> None:
    t = transcript(seg("caller", 0, 3, "The cancellation policy is scandalous"))
    assert fired([rule(any=["cancel"]), rule(name="b", any=["scan"])], t) == set()


def test_numbers_digits_or_words() -> None:
    t = transcript(seg("caller", 0, 5, "My order number is four five seven two nine."))
    assert fired([rule(any=["order 45729"])], t) == set()  # "number is" sits between
    assert fired([rule(any=["number is 45729"])], t) == {"r"}
    t2 = transcript(seg("caller", 0, 5, "It costs 10,000 dollars"))
    assert fired([rule(any=["ten thousand dollars"])], t2) == {"r"}


# ---------------------------------------------------------------- phrases and segments


def test_phrase_across_segment_boundary_same_speaker() -> None:
    t = transcript(
        seg("caller", 0, 2, "I want to cancel my"), seg("caller", 2.5, 4, "subscription now")
    )
    (m,) = compile_rules([rule(any=["cancel my subscription"])]).evaluate(t)
    assert m.speaker is Speaker.caller
    assert m.start < 2 < m.end


def test_phrase_never_spans_two_speakers() -> None:
    t = transcript(
        seg("caller", 0, 2, "I want to cancel my"), seg("callee", 2.5, 4, "subscription?")
    )
    assert fired([rule(any=["cancel my subscription"])], t) == set()


def test_overlapping_phrases_all_reported() -> None:
    t = transcript(seg("caller", 0, 3, "please cancel my subscription today"))
    r = rule(any=["cancel my subscription", "my subscription", "cancel", "subscription today"])
    phrases = sorted(m.phrase for m in compile_rules([r]).evaluate(t))
    assert phrases == sorted(
        ["cancel my subscription", "my subscription", "cancel", "subscription today"]
    )


def test_repeated_phrase_reported_each_time() -> None:
    t = transcript(seg("caller", 0, 3, "cancel, cancel, CANCEL"))
    assert len(compile_rules([rule(any=["cancel"])]).evaluate(t)) == 3


def test_same_phrase_in_many_rules() -> None:
    t = transcript(seg("caller", 0, 3, "cancel it"))
    rules = [rule(name=f"r{i}", any=["cancel"]) for i in range(20)]
    assert fired(rules, t) == {f"r{i}" for i in range(20)}


def test_equivalent_phrases_count_once() -> None:
    t = transcript(seg("caller", 0, 3, "refunds"))
    ms = compile_rules([rule(any=["refund", "Refunds"], all=["refund"])]).evaluate(t)
    assert [(m.phrase, m.kind) for m in ms] == [("refund", "phrase")]


# ---------------------------------------------------------------- speaker


@pytest.mark.parametrize(
    ("speaker", "expected"),
    [("caller", {"r"}), ("callee", set()), ("either", {"r"})],
)
def test_speaker_filter(speaker: str, expected: set[str]) -> None:
    assert fired([rule(any=["competitor"], speaker=speaker)], CALL) == expected


def test_speaker_filter_for_none() -> None:
    # the callee never says "cancel" (the caller does): absence holds for the callee only
    assert fired([rule(none=["cancel"], speaker="callee")], CALL) == {"r"}
    assert fired([rule(none=["cancel"], speaker="caller")], CALL) == set()


def test_all_split_between_speakers_needs_either() -> None:
    assert fired([rule(all=["cancel", "refund"], speaker="caller")], CALL) == set()
    assert fired([rule(all=["cancel", "refund"])], CALL) == {"r"}


# ---------------------------------------------------------------- windows (phrase start time)


def _at(start: float) -> object:
    # one timed word "cancel" starting exactly at `start`
    return transcript(
        seg("caller", start, start + 0.5, "cancel", timed=True), seg("callee", 0, 60, "hello")
    )


@pytest.mark.parametrize(
    ("start", "hit"), [(0.0, True), (29.99, True), (30.0, False), (31.0, False)]
)
def test_first_seconds_boundary(start: float, hit: bool) -> None:
    r = rule(any=["cancel"], window={"first_seconds": 30})
    assert bool(fired([r], _at(start), 60.0)) is hit


@pytest.mark.parametrize(("start", "hit"), [(29.99, False), (30.0, True), (59.5, True)])
def test_last_seconds_boundary(start: float, hit: bool) -> None:
    r = rule(any=["cancel"], window={"last_seconds": 30})
    assert bool(fired([r], _at(start), 60.0)) is hit


@pytest.mark.parametrize(
    ("start", "hit"), [(9.99, False), (10.0, True), (19.99, True), (20.0, False)]
)
def test_absolute_range_boundary(start: float, hit: bool) -> None:
    r = rule(any=["cancel"], window={"start_seconds": 10, "end_seconds": 20})
    assert bool(fired([r], _at(start), 60.0)) is hit


def test_open_ended_range() -> None:
    assert fired([rule(any=["cancel"], window={"start_seconds": 10})], _at(50), 60.0) == {"r"}
    assert fired([rule(any=["cancel"], window={"end_seconds": 10})], _at(50), 60.0) == set()


def test_last_seconds_uses_duration_or_transcript_end() -> None:
    r = rule(any=["cancel"], window={"last_seconds": 10})
    assert fired([r], _at(45), 50.0) == {"r"}
    assert fired([r], _at(45), 100.0) == set()
    assert fired([r], _at(45)) == set()  # transcript ends at 60


def test_window_none_disclosure_said_too_late() -> None:
    t = transcript(
        seg("callee", 0, 5, "Hello, Acme support.", timed=True),
        seg("callee", 40, 45, "By the way this call is recorded.", timed=True),
    )
    r = rule(
        name="missing-disclosure",
        none=["this call is recorded"],
        speaker="callee",
        window={"first_seconds": 30},
    )
    assert fired([r], t) == {"missing-disclosure"}
    t2 = transcript(seg("callee", 0, 5, "This call is recorded.", timed=True))
    assert fired([r], t2) == set()


def test_word_timings_are_used() -> None:
    t = transcript(seg("caller", 0, 10, "one two three four cancel", timed=True))
    (m,) = compile_rules([rule(any=["cancel"])]).evaluate(t)
    # five words... but "one two three four" fold into one number token; "cancel" is the 5th word
    assert (m.start, m.end) == (8.0, 10.0)


def test_times_spread_without_word_timings() -> None:
    t = transcript(seg("caller", 10, 14, "please cancel my account"))
    (m,) = compile_rules([rule(any=["cancel my"])]).evaluate(t)
    assert (m.start, m.end) == (11.0, 13.0)


# ---------------------------------------------------------------- proximity


def _near(within: int, text: str, **kw: object) -> set[str]:
    r = rule(near=[{"phrases": ["refund"], "near": ["manager"], "within_words": within}], **kw)
    return fired([r], transcript(seg("callee", 0, 5, text)))


def test_near_gap_boundary() -> None:
    text = "refund a b c manager"  # three words between
    assert _near(3, text) == {"r"}
    assert _near(2, text) == set()


def test_near_either_order_and_adjacent() -> None:
    assert _near(0, "ask the manager refund it") == {"r"}
    assert _near(0, "manager about a refund") == set()


def test_near_needs_same_turn() -> None:
    t = transcript(
        seg("callee", 0, 2, "a refund"),
        seg("caller", 2, 3, "okay"),
        seg("callee", 3, 5, "my manager"),
    )
    r = rule(near=[{"phrases": ["refund"], "near": ["manager"], "within_words": 10}])
    assert fired([r], t) == set()
    t2 = transcript(seg("callee", 0, 2, "a refund"), seg("callee", 2, 5, "my manager"))
    assert fired([r], t2) == {"r"}


def test_near_match_reports_both_phrases() -> None:
    r = rule(near=[{"phrases": ["refund"], "near": ["manager", "supervisor"], "within_words": 3}])
    (m,) = compile_rules([r]).evaluate(
        transcript(seg("callee", 0, 5, "get a refund from my supervisor"))
    )
    assert (m.kind, m.phrase) == ("near", "refund ~ supervisor")
    assert "refund from my supervisor" in m.snippet


def test_near_with_any() -> None:
    r = rule(any=["cancel"], near=[{"phrases": ["refund"], "near": ["manager"], "within_words": 5}])
    assert fired([r], CALL) == {"r"}


# ---------------------------------------------------------------- snippets


def test_snippet_is_the_transcribed_words_around() -> None:
    words = " ".join(f"w{i}" for i in range(30))
    t = transcript(seg("caller", 0, 30, f"{words} I will cancel now {words}"))
    (m,) = compile_rules([rule(any=["cancel"])]).evaluate(t)
    assert m.snippet.startswith("… ") and m.snippet.endswith(" …")
    assert "I will cancel now" in m.snippet
    assert len(m.snippet.split()) == 8 + 1 + 8 + 2


def test_empty_transcript_and_no_rules() -> None:
    assert compile_rules([]).evaluate(CALL) == []
    assert compile_rules([rule(any=["x"])]).evaluate(transcript()) == []
    # absence over an empty call holds
    assert fired([rule(none=["x"])], transcript()) == {"r"}


def test_large_rule_set_multi_character_codes() -> None:
    """5,000 distinct words need 3-character token codes; matches stay on token boundaries."""
    rules = [rule(name=f"r{i}", any=[f"word{i}x"]) for i in range(5000)]
    rules.append(rule(name="pair", any=["word7x word8x"]))
    compiled = compile_rules(rules)
    assert compiled._width == 3
    t = transcript(seg("caller", 0, 5, "so word7x word8x and word4999x but not word50"))
    assert {m.rule for m in compiled.evaluate(t)} == {"r7", "r8", "pair", "r4999"}
