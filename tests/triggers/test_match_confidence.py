"""Keyword matches carry the recogniser's confidence, a rule may demand a minimum, and the
confidence is stored with the match."""

from __future__ import annotations

from catalog import trigger_matches as store
from catalog.models import Recording, Speaker, Transcript, TranscriptSegment, Word
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from triggers import RuleSet, compile_rules


def _segment(speaker: Speaker, start: float, words: list[tuple[str, float]]) -> TranscriptSegment:
    ws = [
        Word(word=w, start=start + i * 0.4, end=start + i * 0.4 + 0.3, probability=p)
        for i, (w, p) in enumerate(words)
    ]
    return TranscriptSegment(
        speaker=speaker,
        channel=speaker.channel,
        start=start,
        end=ws[-1].end,
        text=" ".join(w for w, _ in words),
        words=ws,
    )


# a word heard clearly, and a hotword echo the decoder produced on silence (probability ~0)
TRANSCRIPT = Transcript(
    recording_id="r1",
    segments=[
        _segment(
            Speaker.caller,
            0.0,
            [
                ("I", 0.9),
                ("want", 0.95),
                ("to", 0.9),
                ("cancel", 0.8),
                ("my", 0.7),
                ("subscription", 0.6),
            ],
        ),
        _segment(Speaker.caller, 5.0, [("Zendesk", 0.01)]),
    ],
)


def _rules(**extra) -> RuleSet:
    return RuleSet.model_validate(
        {
            "rules": [
                {"name": "churn", "any": ["cancel my subscription"], **extra},
                {"name": "tool", "any": ["zendesk"], **extra},
                {"name": "pair", "near": [{"phrases": ["want"], "near": ["cancel"]}], **extra},
            ]
        }
    )


def test_matches_carry_the_least_word_probability():
    by_rule = {m.rule: m for m in compile_rules(_rules()).evaluate(TRANSCRIPT)}
    assert by_rule["churn"].confidence == 0.6  # min of cancel 0.8, my 0.7, subscription 0.6
    assert by_rule["tool"].confidence == 0.01
    assert by_rule["pair"].confidence == 0.8  # min over both sides of the pair


def test_rule_minimum_ignores_what_was_barely_heard():
    fired = {m.rule for m in compile_rules(_rules(min_confidence=0.5)).evaluate(TRANSCRIPT)}
    assert fired == {"churn", "pair"}
    fired = {m.rule for m in compile_rules(_rules(min_confidence=0.65)).evaluate(TRANSCRIPT)}
    assert fired == {"pair"}


def test_transcripts_without_word_probabilities_count_as_certain():
    t = Transcript(
        recording_id="r2",
        segments=[
            TranscriptSegment(
                speaker=Speaker.caller,
                channel=0,
                start=0,
                end=2,
                text="please cancel my subscription",
            )
        ],
    )
    (m,) = [m for m in compile_rules(_rules(min_confidence=0.9)).evaluate(t) if m.rule == "churn"]
    assert m.confidence == 1.0


def test_confidence_is_stored_with_the_match(tmp_path):
    cat = Catalog.open(RecflowSettings(data_dir=tmp_path))
    rec = Recording()
    matches = compile_rules(_rules()).evaluate(TRANSCRIPT)
    store.replace_matches(cat, rec.id, [m.model_dump(mode="json") for m in matches], "v1")
    stored = {m.rule: m.confidence for m in store.matches_for_recording(cat, rec.id)}
    assert stored == {"churn": 0.6, "tool": 0.01, "pair": 0.8}


def test_min_confidence_is_left_out_of_exported_rules_when_default():
    rule = _rules().rules[0]
    assert "min_confidence" not in rule.to_file()
    assert _rules(min_confidence=0.4).rules[0].to_file()["min_confidence"] == 0.4
