"""The transcription step of `process-recording` (services.transcription.transcribe_and_store):
retried under the one retry policy for retriable engine errors only, transcript stored once it
succeeds, nothing stored when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.models import Recording, Transcript, TranscriptSegment
from connectors.base import PermanentError, RetriableError
from services.retry import RetryPolicy
from services.transcription import transcribe_and_store

FAST = RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0)


class Engine:
    """An engine that fails with the given errors first, then transcribes."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    async def transcribe(self, recording: Recording, audio: Path) -> Transcript:
        self.calls += 1
        assert audio.exists(), "the engine is given the stored audio file"
        if self.errors:
            raise self.errors.pop(0)
        segment = TranscriptSegment(speaker="caller", channel=0, start=0.0, end=1.0, text="hello")
        return Transcript(recording_id=recording.id, engine="test", segments=[segment])


@pytest.fixture
def recording(catalog, tmp_path: Path) -> Recording:  # type: ignore[no-untyped-def]
    audio = tmp_path / "call.wav"
    audio.write_bytes(b"RIFF")  # the engine above never reads it
    return catalog.add_recording(Recording(from_number="+15550100"), audio=audio)  # type: ignore[no-any-return]


async def test_a_retriable_engine_error_is_retried_and_the_transcript_stored(
    catalog, recording
) -> None:
    engine = Engine([RetriableError("503 from the engine")])
    transcript = await transcribe_and_store(catalog, recording, engine, FAST)
    assert engine.calls == 2
    stored = catalog.get_transcript(recording.id)
    assert stored is not None and [s.text for s in stored.segments] == ["hello"]
    assert transcript.segments[0].text == "hello"


async def test_a_permanent_error_fails_at_once_and_stores_nothing(catalog, recording) -> None:
    engine = Engine([ValueError("not an audio file recflow can decode")])
    with pytest.raises(PermanentError, match="not an audio file"):
        await transcribe_and_store(catalog, recording, engine, FAST)
    assert engine.calls == 1
    assert catalog.get_transcript(recording.id) is None


async def test_retries_give_up_after_the_policy_attempts(catalog, recording) -> None:
    engine = Engine([RetriableError("timeout")] * 5)
    with pytest.raises(RetriableError):
        await transcribe_and_store(catalog, recording, engine, FAST)
    assert engine.calls == 3
    assert catalog.get_transcript(recording.id) is None
