"""Quality management storage: who last opened a call's audio (from the audit trail), the call
report and dashboard aggregates (one SQL aggregate per figure, scoped by visibility).

Only this module and ``catalog.manifests`` read these tables for quality features; the rules
(forced comments, report shapes) live in ``services.quality`` and ``services.reports``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from catalog.models import Recording, assume_utc
from catalog.portal_queries import Visibility, visibility_clause
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


@dataclass(frozen=True)
class Period:
    since: datetime | None = None
    until: datetime | None = None


def _where(
    catalog: Catalog, visibility: Visibility, period: Period, numbers: Sequence[str] | None = None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    vis = visibility_clause(visibility)
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
    """Additive figures of a set of calls (so per-user sums can be combined exactly)."""

    key: str
    calls: int = 0
    total_seconds: float = 0.0
    inbound: int = 0
    outbound: int = 0
    reviews: int = 0  # scored reviews of these calls
    score_sum: float = 0.0

    def __add__(self, o: CallAggregate) -> CallAggregate:
        return CallAggregate(
            self.key,
            self.calls + o.calls,
            self.total_seconds + o.total_seconds,
            self.inbound + o.inbound,
            self.outbound + o.outbound,
            self.reviews + o.reviews,
            self.score_sum + o.score_sum,
        )

    def __sub__(self, o: CallAggregate) -> CallAggregate:
        return CallAggregate(
            self.key,
            self.calls - o.calls,
            self.total_seconds - o.total_seconds,
            self.inbound - o.inbound,
            self.outbound - o.outbound,
            self.reviews - o.reviews,
            self.score_sum - o.score_sum,
        )

    @property
    def average_score(self) -> float | None:
        return round(self.score_sum / self.reviews, 2) if self.reviews else None


def _day(catalog: Catalog) -> Any:
    if catalog.db.is_sqlite:
        # started_at is stored as 'YYYY-MM-DD HH:MM:SS…' (UTC): the first ten characters are
        # the day, far cheaper than date() per row
        return func.substr(RecordingRow.started_at, 1, 10)
    return func.to_char(func.timezone("UTC", RecordingRow.started_at), "YYYY-MM-DD")


def _key_columns(catalog: Catalog, by: str) -> list[Any]:
    return {
        "all": [],
        "day": [_day(catalog)],
        "direction": [RecordingRow.direction],
        "from": [RecordingRow.from_number],
        "to": [RecordingRow.to_number],
        "pair": [RecordingRow.from_number, RecordingRow.to_number],
    }[by]


def _keyed(
    catalog: Catalog,
    visibility: Visibility,
    period: Period,
    by: str,
    extra: Sequence[ColumnElement[bool]] = (),
) -> dict[tuple[str, ...], CallAggregate]:
    """Calls and their scored reviews, grouped by ``by``: two grouped queries in all."""
    from catalog.reviews import ReviewRow

    cols = _key_columns(catalog, by)
    where = [*_where(catalog, visibility, period), *extra]
    out: dict[tuple[str, ...], CallAggregate] = {}
    with catalog.db.session() as s:
        q = select(*cols, *_aggregates()).where(*where)
        if cols:
            q = q.group_by(*cols)
        for row in s.execute(q):
            key = tuple(str(v) for v in row[: len(cols)])
            if not cols and not row.calls:
                continue
            out[key] = CallAggregate(
                "/".join(key) or "all",
                int(row.calls or 0),
                float(row.total or 0.0),
                int(row.inbound or 0),
                int(row.outbound or 0),
            )
        # scored reviews are few next to calls: read them, then look up their calls by id in
        # chunks (a SQL join lets the planner scan every call of the period instead)
        scores: dict[str, tuple[int, float]] = {}
        for rid, score in s.execute(
            select(ReviewRow.recording_id, ReviewRow.score).where(ReviewRow.score.is_not(None))
        ):
            n, total = scores.get(rid, (0, 0.0))
            scores[rid] = (n + 1, total + float(score))
        ids = sorted(scores)
        for i in range(0, len(ids), 500):
            q = select(RecordingRow.id, *cols).where(RecordingRow.id.in_(ids[i : i + 500]), *where)
            for row in s.execute(q):
                key = tuple(str(v) for v in row[1:])
                n, total = scores[row[0]]
                base = out.get(key, CallAggregate("/".join(key) or "all"))
                out[key] = base + CallAggregate(base.key, reviews=n, score_sum=total)
    return out


def aggregate_calls(
    catalog: Catalog,
    visibility: Visibility,
    period: Period,
    *,
    by: str = "all",
    numbers: Sequence[str] | None = None,
) -> list[CallAggregate]:
    """Counts, durations, directions and evaluation sums of the visible calls in ``period``.

    ``by``: ``all`` (one row, also when empty), ``day`` (YYYY-MM-DD, UTC) or ``direction``;
    ``numbers`` narrows to calls with one of those numbers as a party."""
    extra = []
    if numbers is not None:
        nums = sorted(set(numbers))
        extra.append(
            or_(RecordingRow.from_number.in_(nums), RecordingRow.to_number.in_(nums))
            if nums
            else false()
        )
    rows = _keyed(catalog, visibility, period, by, extra)
    if by == "all":
        return [rows.get((), CallAggregate("all"))]
    return [rows[k] for k in sorted(rows)]


def aggregate_by_owner(
    catalog: Catalog,
    visibility: Visibility,
    period: Period,
    owners: Mapping[str, Sequence[str]],
) -> dict[str, CallAggregate]:
    """Per owner (a user, a group) the calls with one of the owner's numbers as a party, in
    three grouped queries whatever the number of owners: by caller, by callee, and the calls
    where both parties are owners' numbers (subtracted once: inclusion–exclusion)."""
    everyone = sorted({n for nums in owners.values() for n in nums})
    if not everyone:
        return {}
    by_from = _keyed(catalog, visibility, period, "from", [RecordingRow.from_number.in_(everyone)])
    by_to = _keyed(catalog, visibility, period, "to", [RecordingRow.to_number.in_(everyone)])
    both = _keyed(
        catalog,
        visibility,
        period,
        "pair",
        [RecordingRow.from_number.in_(everyone), RecordingRow.to_number.in_(everyone)],
    )
    owners_of: dict[str, set[str]] = {}
    for owner, nums in owners.items():
        for n in nums:
            owners_of.setdefault(n, set()).add(owner)
    sums = {owner: CallAggregate(owner) for owner in owners}
    for (n,), a in by_from.items():
        for owner in owners_of.get(n, ()):
            sums[owner] = sums[owner] + a
    for (n,), a in by_to.items():
        for owner in owners_of.get(n, ()):
            sums[owner] = sums[owner] + a
    for (f, t), a in both.items():
        # counted once as caller and once as callee for an owner of both numbers
        for owner in owners_of.get(f, set()) & owners_of.get(t, set()):
            sums[owner] = sums[owner] - a
    return sums


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


def score_trend(
    catalog: Catalog,
    visibility: Visibility,
    period: Period,
    *,
    agents: Sequence[str] | None = None,
) -> list[tuple[str, str, int, float]]:
    """(agent, UTC day of the review, reviews, average score) for scored reviews of visible
    calls, optionally only for ``agents``."""
    from catalog.reviews import ReviewRow

    day = (
        func.date(ReviewRow.created_at)
        if catalog.db.is_sqlite
        else func.to_char(func.timezone("UTC", ReviewRow.created_at), "YYYY-MM-DD")
    )
    q = (
        select(ReviewRow.agent, day.label("d"), func.count(), func.avg(ReviewRow.score))
        .join(RecordingRow, RecordingRow.id == ReviewRow.recording_id)
        .where(ReviewRow.score.is_not(None))
        .group_by(ReviewRow.agent, day)
        .order_by(ReviewRow.agent, day)
    )
    vis = visibility_clause(visibility)
    if vis is not None:
        q = q.where(vis)
    if period.since:
        q = q.where(ReviewRow.created_at >= _ts(catalog, period.since))
    if period.until:
        q = q.where(ReviewRow.created_at < _ts(catalog, period.until))
    if agents is not None:
        q = q.where(ReviewRow.agent.in_(list(agents)))
    with catalog.db.session() as s:
        return [(a, str(d), int(n), float(avg)) for a, d, n, avg in s.execute(q)]
