"""Fixtures of the connector tests: an isolated data dir + secret key, sample call data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from catalog.models import Direction, Recording, Speaker, Transcript, TranscriptSegment


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Secrets encrypt under a test key, data (user templates) under a temp dir."""
    from catalog.settings import get_settings

    monkeypatch.setenv("RECFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECFLOW_SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.setenv("RECFLOW_DELIVERY_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("RECFLOW_DELIVERY_MAX_DELAY_SECONDS", "0.5")
    monkeypatch.setenv("RECFLOW_PUBLIC_URL", "https://recflow.example.com")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def recording() -> Recording:
    return Recording(
        call_id="a84b4c76e66710@pc33.example.com",
        from_number="+44 7700 900124",
        from_name="Alice Caller",
        to_number="+441632960556",
        to_name="Support",
        direction=Direction.inbound,
        started_at=datetime(2024, 5, 6, 14, 30, 0, tzinfo=UTC),
        duration_seconds=83.4,
    )


@pytest.fixture
def transcript(recording: Recording) -> Transcript:
    return Transcript(
        recording_id=recording.id,
        engine="test",
        segments=[
            TranscriptSegment(
                speaker=Speaker.caller,
                channel=0,
                start=0.5,
                end=3.0,
                text="Hi, I want to cancel my subscription.",
            ),
            TranscriptSegment(
                speaker=Speaker.callee,
                channel=1,
                start=3.5,
                end=6.0,
                text="I can help with that. May I have your account number?",
            ),
        ],
    )
