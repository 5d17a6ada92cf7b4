"""One recording as the API returns it (shared by the recordings and search routes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from catalog.models import Direction, RecordingStatus


class RecordingOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    call_id: str
    from_number: str
    from_name: str
    to_number: str
    to_name: str
    direction: Direction
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float
    channels: int
    sample_rate: int
    codec: str
    file_size: int
    sha256: str
    private: bool
    status: RecordingStatus
    processed_at: datetime | None
    policy: dict[str, Any] | None = Field(
        None,
        description="Recording policy decision: {decision: recorded|not_recorded|on_demand, "
        "rule: <level>.<direction>.<scope>}; null for recordings not made by the recorder",
    )
    audio_url: str = Field(description="Path of the audio (range requests supported)")
    transcript_url: str


def _out(rec: Any) -> RecordingOut:
    data = rec.model_dump(
        include=set(RecordingOut.model_fields) - {"audio_url", "transcript_url", "policy"}
    )
    return RecordingOut(
        **data,
        policy=(rec.metadata or {}).get("policy"),
        audio_url=f"/api/v1/recordings/{rec.id}/audio",
        transcript_url=f"/api/v1/recordings/{rec.id}/transcript",
    )
