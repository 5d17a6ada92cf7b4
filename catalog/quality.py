"""Quality management storage: who last opened a call's audio (from the audit trail), the call
report and dashboard aggregates (one SQL aggregate per figure, scoped by visibility).

Only this module and ``catalog.manifests`` read these tables for quality features; the rules
(forced comments, report shapes) live in ``services.quality`` and ``services.reports``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from catalog.models import Recording, assume_utc
from catalog.portal_queries import Visibility
from catalog.portal_tables import AuditRow
from catalog.repository import Catalog, recording_from_row
from catalog.tables import DeliveryRow, RecordingRow

AUDIO_ACTIONS = ("playback", "download", "export")


def _ts(catalog: Catalog, ts: datetime) -> datetime:
    # SQLite stores naive UTC text; compare like with like
    ts = ts.astimezone(UTC) if ts.tzinfo else ts
    return ts.replace(tzinfo=None) if catalog.db.is_sqlite else ts.replace(tzinfo=UTC)


def first_audio_access_since(
    catalog: Catalog, recording_id: str, initiator: str, since: datetime
) -> datetime | None:
    """When ``initiator`` first started playing, downloading or exporting this call at or after
    ``since`` (the audit trail is the record of plays), or None."""
    q = select(func.min(AuditRow.at)).where(
        AuditRow.resource == f"recording:{recording_id}",
        AuditRow.initiator == initiator,
        AuditRow.action.in_(AUDIO_ACTIONS),
        AuditRow.at >= _ts(catalog, since),
    )
    with catalog.db.session() as s:
        value = s.scalar(q)
    return assume_utc(value) if value is not None else None


def last_audio_access(
    catalog: Catalog, initiator: str, *, before_recording: str | None = None
) -> tuple[str, datetime] | None:
    """The call ``initiator`` most recently played (recording id, when), or None."""
    q = (
        select(AuditRow.resource, AuditRow.at)
        .where(AuditRow.initiator == initiator, AuditRow.action.in_(AUDIO_ACTIONS))
        .order_by(AuditRow.seq.desc())
        .limit(1)
    )
    with catalog.db.session() as s:
        row = s.execute(q).first()
    if row is None or not row[0].startswith("recording:"):
        return None
    return row[0].split(":", 1)[1], assume_utc(row[1])


# ---------------------------------------------------------------- visibility as SQL


def visible_clause(visibility: Visibility) -> ColumnElement[bool] | None:
    """The WHERE clause that ``Visibility.allows`` is, for aggregate queries."""
    parts: list[ColumnElement[bool]] = []
    if not visibility.everything:
        nums = sorted(visibility.numbers)
        parts.append(
            or_(RecordingRow.from_number.in_(nums), RecordingRow.to_number.in_(nums))
            if nums
            else false()
        )
    if not visibility.private_all:
        own = sorted(visibility.own_numbers)
        parts.append(
            or_(
                RecordingRow.private.is_(False),
                RecordingRow.from_number.in_(own),
                RecordingRow.to_number.in_(own),
            )
            if own
            else RecordingRow.private.is_(False)
        )
    return and_(*parts) if parts else None


@dataclass(frozen=True)
class Period:
    since: datetime | None = None
    until: datetime | None = None


def _where(
    catalog: Catalog, visibility: Visibility, period: Period, numbers: Sequence[str] | None = None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    vis = visible_clause(visibility)
    if vis is not None:
        where.append(vis)
    if period.since:
        where.append(RecordingRow.started_at >= _ts(catalog, period.since))
    if period.until:
        where.append(RecordingRow.started_at < _ts(catalog, period.until))
    if numbers is not None:
        nums = sorted(set(numbers))
        where.append(
            or_(RecordingRow.from_number.in_(nums), RecordingRow.to_number.in_(nums))
            if nums
            else false()
        )
    return where


def _aggregates() -> list[Any]:
    return [
        func.count().label("calls"),
        func.coalesce(func.sum(RecordingRow.duration_seconds), 0.0).label("total"),
        func.coalesce(func.sum(case((RecordingRow.direction == "inbound", 1), else_=0)), 0).label(
            "inbound"
        ),
        func.coalesce(func.sum(case((RecordingRow.direction == "outbound", 1), else_=0)), 0).label(
            "outbound"
        ),
    ]


@dataclass(frozen=True)
class CallAggregate:
    key: str
    calls: int
    total_seconds: float
    inbound: int
    outbound: int


def _agg(key: Any, row: Any) -> CallAggregate:
    return CallAggregate(
        key=str(key),
        calls=int(row.calls or 0),
        total_seconds=float(row.total or 0.0),
        inbound=int(row.inbound or 0),
        outbound=int(row.outbound or 0),
    )


def _day(catalog: Catalog) -> Any:
    if catalog.db.is_sqlite:
        return func.date(RecordingRow.started_at)
    return func.to_char(func.timezone("UTC", RecordingRow.started_at), "YYYY-MM-DD")


def aggregate_calls(
    catalog: Catalog,
    visibility: Visibility,
    period: Period,
    *,
    by: str = "all",
    numbers: Sequence[str] | None = None,
) -> list[CallAggregate]:
    """Counts, durations and directions of the visible calls in ``period``.

    ``by``: ``all`` (one row), ``day`` (YYYY-MM-DD, UTC) or ``direction``; ``numbers`` narrows
    to calls with one of those numbers as a party (per-user and per-group rows)."""
    where = _where(catalog, visibility, period, numbers)
    with catalog.db.session() as s:
        if by == "all":
            row = s.execute(select(*_aggregates()).where(*where)).one()
            return [_agg("all", row)]
        col = {"day": _day(catalog), "direction": RecordingRow.direction}[by]
        q = select(col.label("k"), *_aggregates()).where(*where).group_by(col).order_by(col)
        return [_agg(r.k, r) for r in s.execute(q)]


def average_duration(catalog: Catalog, visibility: Visibility, period: Period) -> float:
    where = _where(catalog, visibility, period)
    with catalog.db.session() as s:
        value = s.scalar(select(func.avg(cast(RecordingRow.duration_seconds, Float))).where(*where))
    return float(value or 0.0)


def top_rule_matches(
    catalog: Catalog, visibility: Visibility, period: Period, limit: int = 10
) -> list[tuple[str, int]]:
    """Keyword rules by the number of visible calls they matched in ``period``."""
    try:
        from catalog.trigger_tables import TriggerMatchRow
    except ImportError:  # keyword triggers not installed
        return []
    where = _where(catalog, visibility, period)
    q = (
        select(TriggerMatchRow.rule, func.count(func.distinct(TriggerMatchRow.recording_id)))
        .join(RecordingRow, RecordingRow.id == TriggerMatchRow.recording_id)
        .where(*where)
        .group_by(TriggerMatchRow.rule)
        .order_by(func.count(func.distinct(TriggerMatchRow.recording_id)).desc())
        .limit(limit)
    )
    with catalog.db.session() as s:
        return [(str(r), int(n)) for r, n in s.execute(q)]


def delivery_failures(
    catalog: Catalog, visibility: Visibility, period: Period
) -> list[tuple[str, int]]:
    """Failed deliveries about visible calls in ``period``, per connector."""
    where = _where(catalog, visibility, period)
    q = (
        select(DeliveryRow.connector, func.count())
        .join(RecordingRow, RecordingRow.id == DeliveryRow.subject_id)
        .where(DeliveryRow.subject_kind == "recording", DeliveryRow.status == "failed", *where)
        .group_by(DeliveryRow.connector)
        .order_by(func.count().desc())
    )
    with catalog.db.session() as s:
        return [(str(c), int(n)) for c, n in s.execute(q)]


def numbers_in(values: Iterable[Any]) -> list[str]:
    return sorted({str(v) for v in values if v})


def retention_deleted(catalog: Catalog, recording_id: str) -> bool:
    """Did retention (not someone else) delete this recording? The deletion log says."""
    from catalog.archive_tables import RetentionDeletionRow

    with catalog.db.session() as s:
        q = select(RetentionDeletionRow.id).where(
            RetentionDeletionRow.recording_id == recording_id,
            RetentionDeletionRow.what == "recording",
        )
        return s.scalar(q.limit(1)) is not None


def iter_recordings(catalog: Catalog, batch: int = 500) -> Iterator[Recording]:
    """Every recording, oldest id first, in keyset batches."""
    after = ""
    while True:
        with catalog.db.session() as s:
            rows = [
                recording_from_row(r)
                for r in s.scalars(
                    select(RecordingRow)
                    .where(RecordingRow.id > after)
                    .order_by(RecordingRow.id)
                    .limit(batch)
                )
            ]
        if not rows:
            return
        yield from rows
        after = rows[-1].id
