"""Legal holds as the portal lists them: the active per-recording holds with who placed them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from catalog.archive_tables import RetentionHoldRow
from catalog.db import Database
from catalog.models import assume_utc
from catalog.tables import RecordingRow


@dataclass(frozen=True)
class ActiveHold:
    id: int
    recording_id: str
    reason: str
    created_by: str
    created_at: datetime
    from_number: str  # "" when the recording is gone
    to_number: str
    started_at: datetime | None


def active_holds(
    db: Database, limit: int = 1000, *, recording_id: str | None = None
) -> list[ActiveHold]:
    """Unreleased holds (of one recording, or all), newest first, with the call they hold."""
    q = (
        select(
            RetentionHoldRow.id,
            RetentionHoldRow.recording_id,
            RetentionHoldRow.reason,
            RetentionHoldRow.created_by,
            RetentionHoldRow.created_at,
            RecordingRow.from_number,
            RecordingRow.to_number,
            RecordingRow.started_at,
        )
        .outerjoin(RecordingRow, RecordingRow.id == RetentionHoldRow.recording_id)
        .where(RetentionHoldRow.released_at.is_(None))
        .where(RetentionHoldRow.recording_id == recording_id if recording_id is not None else True)
        .order_by(RetentionHoldRow.created_at.desc(), RetentionHoldRow.id.desc())
        .limit(limit)
    )
    with db.session() as s:
        return [
            ActiveHold(
                id=r[0],
                recording_id=r[1],
                reason=r[2],
                created_by=r[3],
                created_at=assume_utc(r[4]),
                from_number=r[5] or "",
                to_number=r[6] or "",
                started_at=assume_utc(r[7]) if r[7] else None,
            )
            for r in s.execute(q)
        ]
