"""Small builders shared by the triggers tests."""

from __future__ import annotations

from catalog.models import Speaker, Transcript, TranscriptSegment, Word
from triggers import Rule


def seg(
    speaker: str, start: float, end: float, text: str, *, timed: bool = False
) -> TranscriptSegment:
    """A segment; with ``timed`` the words get one evenly spaced timing each, like an ASR."""
    sp = Speaker(speaker)
    words = []
    if timed:
        parts = text.split()
        step = (end - start) / max(1, len(parts))
        words = [
            Word(word=" " + w, start=start + i * step, end=start + (i + 1) * step)
            for i, w in enumerate(parts)
        ]
    return TranscriptSegment(
        speaker=sp, channel=sp.channel, start=start, end=end, text=text, words=words
    )


def transcript(*segments: TranscriptSegment) -> Transcript:
    return Transcript(recording_id="rec-1", segments=list(segments))


def rule(**kw: object) -> Rule:
    kw.setdefault("name", "r")
    return Rule.model_validate(kw)
