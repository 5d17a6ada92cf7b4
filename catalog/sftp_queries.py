"""Queries behind the hosted SFTP tree: which days have calls, the calls that ended on one day,
one call by id — always through a :class:`~catalog.portal_queries.Visibility`.

Focus files a call under the day it *ended* (a call from 23:30 to 01:30 is in the next day's
folder), so these queries run on ``ended_at`` (index ``ix_recordings_ended_id``, migration
``access_0001``). Only finished recordings with audio are listed. Listing a day selects a few
columns, not whole rows: a day with 10,000 calls is one indexed range scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, func, select, true

from catalog.models import assume_utc
from catalog.portal_queries import Visibility
from catalog.portal_queries import visibility_clause as portal_visibility_clause
from catalog.repository import Catalog
from catalog.tables import RecordingRow


@dataclass(frozen=True)
class CallEntry:
    """What the tree needs of one call: its name fields and its size estimate inputs."""

    id: str
    from_number: str
    to_number: str
    ended_at: datetime
    duration_seconds: float
    file_key: str
    file_size: int


def visibility_clause(visibility: Visibility) -> Any:
    """The SQL form of ``visibility.allows`` over RecordingRow (always a clause: true for all)."""
    clause = portal_visibility_clause(visibility)
    return true() if clause is None else clause


def _ts(catalog: Catalog, ts: datetime) -> datetime:
    ts = ts.astimezone(UTC)
    return ts.replace(tzinfo=None) if catalog.db.is_sqlite else ts


def _listed() -> Any:
    return and_(RecordingRow.ended_at.is_not(None), RecordingRow.file_key != "")


def _day_key(catalog: Catalog) -> Any:
    if catalog.db.is_sqlite:  # stored as naive UTC text "YYYY-MM-DD HH:MM:SS…"
        return func.substr(cast(RecordingRow.ended_at, String), 1, 10)
    return func.to_char(func.timezone("UTC", RecordingRow.ended_at), "YYYY-MM-DD")


def call_days(
    catalog: Catalog,
    visibility: Visibility,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[date]:
    """Every UTC day in [since, until) on which a visible call ended, ascending."""
    key = _day_key(catalog).label("day")
    q = select(key).where(_listed(), visibility_clause(visibility))
    if since is not None:
        q = q.where(RecordingRow.ended_at >= _ts(catalog, since))
    if until is not None:
        q = q.where(RecordingRow.ended_at < _ts(catalog, until))
    q = q.group_by(key).order_by(key)
    with catalog.db.session() as s:
        return [date.fromisoformat(str(d)) for d in s.scalars(q) if d]


def calls_ended_on(catalog: Catalog, visibility: Visibility, day: date) -> list[CallEntry]:
    """The visible calls that ended on ``day`` (UTC), oldest first.

    On SQLite the end time is read as its stored text and parsed with ``fromisoformat`` (C):
    SQLAlchemy's own SQLite datetime parsing is most of the cost of a 10,000-row day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    sqlite = catalog.db.is_sqlite
    ended = cast(RecordingRow.ended_at, String) if sqlite else RecordingRow.ended_at
    cols = (
        RecordingRow.id,
        RecordingRow.from_number,
        RecordingRow.to_number,
        ended,
        RecordingRow.duration_seconds,
        RecordingRow.file_key,
        RecordingRow.file_size,
    )
    q = (
        select(*cols)
        .where(
            _listed(),
            RecordingRow.ended_at >= _ts(catalog, start),
            RecordingRow.ended_at < _ts(catalog, end),
            visibility_clause(visibility),
        )
        .order_by(RecordingRow.ended_at, RecordingRow.id)
    )
    with catalog.db.session() as s:
        return [
            CallEntry(r[0], r[1], r[2], _time(r[3]), float(r[4] or 0.0), r[5], int(r[6] or 0))
            for r in s.execute(q).tuples()
        ]


def _time(value: Any) -> datetime:
    """An end time as SQLite (text) or PostgreSQL (datetime) hands it back, in UTC."""
    if isinstance(value, datetime):
        return assume_utc(value)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def visible_call(catalog: Catalog, visibility: Visibility, recording_id: str) -> CallEntry | None:
    """One listed call by id, or None when it does not exist or ``visibility`` hides it."""
    q = select(RecordingRow).where(
        RecordingRow.id == recording_id, _listed(), visibility_clause(visibility)
    )
    with catalog.db.session() as s:
        r = s.scalars(q).first()
        if r is None:
            return None
        return CallEntry(
            id=r.id,
            from_number=r.from_number,
            to_number=r.to_number,
            ended_at=_time(r.ended_at),
            duration_seconds=float(r.duration_seconds or 0.0),
            file_key=r.file_key,
            file_size=int(r.file_size or 0),
        )
