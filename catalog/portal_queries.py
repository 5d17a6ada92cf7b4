"""Recordings list for the portal and the API: filters, visibility by role, keyset pagination.

Keyset (``started_at, id`` strictly below the last row seen) instead of OFFSET: page 1000 costs
the same as page 1, and rows arriving meanwhile never shift a page. The index
``ix_recordings_started_id`` (portal migration) serves the seek.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, false, or_, select

from catalog.models import Recording
from catalog.repository import Catalog, recording_from_row
from catalog.tables import RecordingRow


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Visibility:
    """What one caller may see. ``everything`` for admins; otherwise the calls on ``numbers``;
    private calls only where the caller is a party (``own_numbers``) or ``private_all``."""

    everything: bool = False
    numbers: frozenset[str] = field(default_factory=frozenset)
    own_numbers: frozenset[str] = field(default_factory=frozenset)
    private_all: bool = False

    def allows(self, rec: Recording) -> bool:
        parties = {rec.from_number, rec.to_number} - {""}
        if rec.private and not self.private_all and not parties & self.own_numbers:
            return False
        return self.everything or bool(parties & self.numbers)


@dataclass(frozen=True)
class RecordingQuery:
    since: datetime | None = None
    until: datetime | None = None
    number: str | None = None  # matches caller or callee exactly
    status: str | None = None
    direction: str | None = None


def visibility_clause(visibility: Visibility) -> ColumnElement[bool] | None:
    """The WHERE clause over ``recordings`` that keeps what ``visibility`` allows (None: all)."""
    parts = visibility_clauses(visibility)
    return and_(*parts) if parts else None


def encode_cursor(rec: Recording) -> str:
    raw = f"{rec.started_at.astimezone(UTC).isoformat()}|{rec.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, rec_id = raw.split("|", 1)
        ts = datetime.fromisoformat(when)
    except (ValueError, UnicodeDecodeError) as e:
        raise CursorError("malformed cursor") from e
    if ts.tzinfo is None or len(rec_id) > 64:
        raise CursorError("malformed cursor")
    return ts, rec_id


def _ts(catalog: Catalog, ts: datetime) -> datetime:
    # SQLite stores naive UTC text; compare like with like
    ts = ts.astimezone(UTC)
    return ts.replace(tzinfo=None) if catalog.db.is_sqlite else ts


def visibility_clauses(visibility: Visibility) -> list[ColumnElement[bool]]:
    """WHERE clauses on RecordingRow that keep only what ``visibility`` allows (also used by
    search and export, so a private call never leaks through them)."""
    out: list[ColumnElement[bool]] = []
    if not visibility.everything:
        nums = sorted(visibility.numbers)
        out.append(
            or_(RecordingRow.from_number.in_(nums), RecordingRow.to_number.in_(nums))
            if nums
            else false()
        )
    if not visibility.private_all:
        own = sorted(visibility.own_numbers)
        out.append(
            or_(
                RecordingRow.private.is_(False),
                RecordingRow.from_number.in_(own),
                RecordingRow.to_number.in_(own),
            )
            if own
            else RecordingRow.private.is_(False)
        )
    return out


def page_recordings(
    catalog: Catalog,
    query: RecordingQuery,
    visibility: Visibility,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Recording], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last one)."""
    limit = max(1, min(limit, 500))
    q = select(RecordingRow).order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc())
    if cursor:
        ts, rec_id = decode_cursor(cursor)
        t = _ts(catalog, ts)
        q = q.where(
            or_(
                RecordingRow.started_at < t,
                and_(RecordingRow.started_at == t, RecordingRow.id < rec_id),
            )
        )
    if query.since:
        q = q.where(RecordingRow.started_at >= _ts(catalog, query.since))
    if query.until:
        q = q.where(RecordingRow.started_at < _ts(catalog, query.until))
    if query.number:
        q = q.where(
            or_(RecordingRow.from_number == query.number, RecordingRow.to_number == query.number)
        )
    if query.status:
        q = q.where(RecordingRow.status == query.status)
    if query.direction:
        q = q.where(RecordingRow.direction == query.direction)
    for clause in visibility_clauses(visibility):
        q = q.where(clause)
    with catalog.db.session() as s:
        rows = [recording_from_row(r) for r in s.scalars(q.limit(limit + 1))]
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1])
    return rows, None
