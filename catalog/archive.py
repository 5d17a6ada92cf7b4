"""Archive destinations, retention policy, the archive ledger and retention holds.

The models here are the configuration (written by `recflow config apply`, read by the archive
and retention flows, the CLI and the portal); the functions are the catalog operations over
``catalog.archive_tables``. The retention decision itself (:func:`decide`) is pure: a
recording, the policy, its holds and the clock in, a decision out. The property test drives it
with random holds and ages; the nightly flow only executes what it decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import and_, delete, exists, func, select, tuple_, update

from catalog.archive_tables import (
    ArchiveDoneRow,
    ArchiveObjectRow,
    RetentionDeletionRow,
    RetentionHoldRow,
)
from catalog.db import Database
from catalog.models import Recording, RecordingStatus, assume_utc, utcnow
from catalog.notes import NoteRow
from catalog.tables import RecordingRow, TranscriptRow
from catalog.workspace_tables import RecordingCategoryRow, RecordingFieldRow

ARCHIVE_DOC = "archive"
RETENTION_DOC = "retention"
FORMATS = ("MP3", "WAV_16_8000_S", "WAV_8_8000_M")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

Format = Literal["MP3", "WAV_16_8000_S", "WAV_8_8000_M"]


def _default_formats() -> list[Format]:
    return ["MP3"]


def validate_cron(expr: str) -> str:
    """As Prefect's scheduler validates it (catalog.schedules)."""
    from catalog.schedules import validate_cron as prefect_rule

    return prefect_rule(expr)


def validate_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {tz!r} (use an IANA name like Europe/London)"
        ) from None
    return tz


class ArchiveDestination(BaseModel):
    """One `archive:` entry: where, in which layout and formats, on which schedule."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name of this archive (lower case, digits, - _ .)")
    connector: str = Field(description="Name of a storage connector (s3, azure_blob, sftp, ftp)")
    layout: str = Field(
        "focus",
        description="masergy-default | masergy-custom | focus | a Jinja2 template of the key",
    )
    formats: list[Format] = Field(
        default_factory=_default_formats, min_length=1, description="Audio formats to write"
    )
    schedule: str | None = Field("0 2 * * *", description="Cron schedule; empty for on demand only")
    timezone: str = Field("UTC", description="Time zone of the schedule and of dates in names")
    mode: Literal["copy", "move"] = Field(
        "copy", description="move deletes the local audio once archived (unless held)"
    )
    secondary: str | None = Field(
        None, description="Optional redundant copy: another connector or archive name"
    )
    metadata_sidecar: bool = Field(False, description="Write a JSON metadata file next to each")
    transcript: bool = Field(
        False, description="Write the transcript next to each file (waits for transcription)"
    )
    sms_csv: bool = Field(
        False, description="Also deliver the monthly SMS CSVs (CSV/Monthly/YYYY/MM/<file>)"
    )
    enabled: bool = Field(True, description="Disabled archives keep their ledger but do not run")
    concurrency: int = Field(8, ge=1, le=64, description="Uploads in flight at a time")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use lower-case letters, digits, '-', '_' or '.' (max 64)")
        return v

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a format is listed twice")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return validate_cron(v) if v else None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return validate_timezone(v)


class RetentionGroup(BaseModel):
    """Recordings matching a group are kept ``days`` days; the first matching group wins."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Group name, shown in the retention report")
    days: int = Field(ge=1, le=36500, description="Days a recording is kept after its start")
    numbers: list[str] = Field(
        default_factory=list,
        description="Caller or callee numbers; a trailing * matches a prefix (+4420*)",
    )
    directions: list[Literal["inbound", "outbound", "internal", "unknown"]] = Field(
        default_factory=list, description="Only calls in these directions (empty: any)"
    )

    def matches(self, rec: RetentionSubject) -> bool:
        if self.directions and rec.direction not in self.directions:
            return False
        if not self.numbers:
            return True
        return any(
            _number_match(p, n) for p in self.numbers for n in (rec.from_number, rec.to_number)
        )


def _number_match(pattern: str, number: str) -> bool:
    if not number:
        return False
    if pattern.endswith("*"):
        return number.startswith(pattern[:-1])
    return number == pattern


class RetentionPolicy(BaseModel):
    """The `retention:` section. The legal hold itself is the account's flag."""

    model_config = ConfigDict(extra="forbid")

    default_days: int = Field(60, ge=1, le=36500, description="Days kept when no group matches")
    groups: list[RetentionGroup] = Field(default_factory=list, description="Retention groups")
    require_archived: bool = Field(
        False, description="Never delete a recording before every enabled archive has it"
    )
    schedule: str = Field("30 3 * * *", description="Cron schedule of the nightly retention run")
    timezone: str = Field("UTC", description="Time zone of the schedule")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        return validate_cron(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return validate_timezone(v)

    def group_for(self, rec: RetentionSubject) -> tuple[str, int]:
        for g in self.groups:
            if g.matches(rec):
                return g.name, g.days
        return "default", self.default_days

    @property
    def min_days(self) -> int:
        return min([self.default_days, *(g.days for g in self.groups)])


# ---------------------------------------------------------------- documents


def load_destinations(catalog: Any) -> list[ArchiveDestination]:
    doc = catalog.get_document(ARCHIVE_DOC) or {}
    return [ArchiveDestination.model_validate(d) for d in doc.get("destinations", [])]


def save_destinations(catalog: Any, dests: Sequence[ArchiveDestination]) -> None:
    catalog.put_document(ARCHIVE_DOC, {"destinations": [d.model_dump(mode="json") for d in dests]})


def get_destination(catalog: Any, name: str) -> ArchiveDestination | None:
    return next((d for d in load_destinations(catalog) if d.name == name), None)


def load_policy(catalog: Any) -> RetentionPolicy:
    doc = catalog.get_document(RETENTION_DOC)
    return RetentionPolicy.model_validate(doc) if doc else RetentionPolicy()


def save_policy(catalog: Any, policy: RetentionPolicy) -> None:
    catalog.put_document(RETENTION_DOC, policy.model_dump(mode="json"))


# ---------------------------------------------------------------- retention decision (pure)


@dataclass(frozen=True)
class RetentionSubject:
    """The few columns retention looks at."""

    recording_id: str
    started_at: datetime
    from_number: str = ""
    to_number: str = ""
    direction: str = "unknown"
    call_id: str = ""
    sha256: str = ""
    file_key: str = ""


Action = Literal["keep", "delete", "held", "legal_hold", "awaiting_archive"]


@dataclass(frozen=True)
class RetentionDecision:
    subject: RetentionSubject
    group: str
    days: int
    expires_at: datetime
    expired: bool
    action: Action
    reason: str


def decide(
    rec: RetentionSubject,
    policy: RetentionPolicy,
    *,
    now: datetime,
    legal_hold: bool,
    held: bool,
    archived: bool = True,
) -> RetentionDecision:
    """What retention does with one recording. Holds always win over expiry."""
    group, days = policy.group_for(rec)
    started = assume_utc(rec.started_at)
    expires = started + timedelta(days=days)
    expired = now >= expires
    action: Action
    if not expired:
        action, reason = "keep", f"kept until {expires:%Y-%m-%d %H:%M} UTC ({group}, {days} days)"
    elif legal_hold:
        action, reason = "legal_hold", "account-wide legal hold"
    elif held:
        action, reason = "held", "recording is on hold"
    elif policy.require_archived and not archived:
        action, reason = "awaiting_archive", "expired but not yet in every archive"
    else:
        action, reason = "delete", f"expired {expires:%Y-%m-%d %H:%M} UTC ({group}, {days} days)"
    return RetentionDecision(rec, group, days, expires, expired, action, reason)


# ---------------------------------------------------------------- holds


def add_hold(db: Database, recording_id: str, *, reason: str = "", by: str = "") -> int:
    with db.session() as s:
        row = RetentionHoldRow(
            recording_id=recording_id,
            reason=reason,
            created_by=by,
            created_at=utcnow(),
            released_by="",
        )
        s.add(row)
        s.flush()
        return row.id


def release_holds(db: Database, recording_id: str, *, by: str = "") -> int:
    with db.session() as s:
        res = s.execute(
            update(RetentionHoldRow)
            .where(
                RetentionHoldRow.recording_id == recording_id,
                RetentionHoldRow.released_at.is_(None),
            )
            .values(released_at=utcnow(), released_by=by)
        )
        return res.rowcount  # type: ignore[attr-defined, no-any-return]


def held_ids(db: Database, recording_ids: Iterable[str] | None = None) -> set[str]:
    q = select(RetentionHoldRow.recording_id).where(RetentionHoldRow.released_at.is_(None))
    ids = None if recording_ids is None else list(recording_ids)
    with db.session() as s:
        if ids is None:
            return set(s.scalars(q))
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            out.update(s.scalars(q.where(RetentionHoldRow.recording_id.in_(ids[i : i + 500]))))
        return out


# ---------------------------------------------------------------- retention queries


def _subject(row: Any) -> RetentionSubject:
    started = assume_utc(row.started_at)
    return RetentionSubject(
        recording_id=row.id,
        started_at=started,
        from_number=row.from_number,
        to_number=row.to_number,
        direction=row.direction,
        call_id=row.call_id,
        sha256=row.sha256,
        file_key=row.file_key,
    )


def retention_decisions(
    db: Database,
    policy: RetentionPolicy,
    *,
    legal_hold: bool,
    now: datetime | None = None,
    archives: Sequence[str] = (),
) -> list[RetentionDecision]:
    """Decisions for every recording that has expired under the shortest period (the rest
    cannot be due), oldest first (FIFO)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=policy.min_days)
    cols = (
        RecordingRow.id,
        RecordingRow.started_at,
        RecordingRow.from_number,
        RecordingRow.to_number,
        RecordingRow.direction,
        RecordingRow.call_id,
        RecordingRow.sha256,
        RecordingRow.file_key,
    )
    with db.session() as s:
        rows = s.execute(
            select(*cols).where(RecordingRow.started_at <= cutoff).order_by(RecordingRow.started_at)
        ).all()
    subjects = [_subject(r) for r in rows]
    held = held_ids(db, [r.recording_id for r in subjects])
    archived = _archived_everywhere(db, [r.recording_id for r in subjects], archives)
    return [
        decide(
            r,
            policy,
            now=now,
            legal_hold=legal_hold,
            held=r.recording_id in held,
            archived=r.recording_id in archived,
        )
        for r in subjects
    ]


def _archived_everywhere(db: Database, ids: list[str], archives: Sequence[str]) -> set[str]:
    if not archives:
        return set(ids)
    counts: dict[str, int] = {}
    with db.session() as s:
        for i in range(0, len(ids), 500):
            q = (
                select(ArchiveDoneRow.recording_id, func.count())
                .where(
                    ArchiveDoneRow.recording_id.in_(ids[i : i + 500]),
                    ArchiveDoneRow.archive.in_(list(archives)),
                )
                .group_by(ArchiveDoneRow.recording_id)
            )
            counts.update({rid: n for rid, n in s.execute(q)})
    return {rid for rid, n in counts.items() if n >= len(set(archives))}


def is_playable(catalog: Any, rec: Recording, *, now: datetime | None = None) -> bool:
    """False once a recording has expired and nothing holds it: expired recordings stop being
    playable at once, before the nightly run deletes them (the Focus seed's behaviour)."""
    policy = load_policy(catalog)
    subject = RetentionSubject(
        recording_id=rec.id,
        started_at=rec.started_at,
        from_number=rec.from_number,
        to_number=rec.to_number,
        direction=rec.direction.value,
    )
    d = decide(
        subject,
        policy,
        now=now or utcnow(),
        legal_hold=catalog.account().legal_hold,
        held=bool(held_ids(catalog.db, [rec.id])),
    )
    return d.action not in ("delete", "awaiting_archive")


def log_deletion(
    db: Database,
    subject: RetentionSubject,
    *,
    what: str,
    group: str = "",
    days: int = 0,
    reason: str = "",
    actor: str = "retention",
) -> None:
    """The deletion log row, plus an entry in the portal's audit trail when it exists."""
    now = utcnow()
    with db.session() as s:
        s.add(
            RetentionDeletionRow(
                recording_id=subject.recording_id,
                what=what,
                call_id=subject.call_id,
                from_number=subject.from_number,
                to_number=subject.to_number,
                started_at=subject.started_at,
                sha256=subject.sha256,
                retention_group=group,
                days=days,
                reason=reason,
                actor=actor,
                deleted_at=now,
            )
        )
        audit = _audit_row_class()
        if audit is not None:
            s.add(
                audit(
                    at=now,
                    initiator=actor,
                    client_ip="",
                    action=f"retention.delete_{what}",
                    resource=f"recording:{subject.recording_id}",
                    outcome="ok",
                    changes=[],
                    detail=f"{reason}; sha256={subject.sha256}",
                )
            )


def _audit_row_class() -> Any:
    # the portal owns the audit trail; retention writes into it when that table is installed
    try:
        from catalog.portal_tables import AuditRow
    except ImportError:
        return None
    return AuditRow


def delete_recording(db: Database, store: Any, decision: RetentionDecision, *, actor: str) -> None:
    """Remove a recording from the platform: audio, transcript and row. Logged first, so a
    crash after the log and before the delete leaves a log entry whose delete the next run
    repeats, never a silent deletion."""
    subj = decision.subject
    log_deletion(
        db,
        subj,
        what="recording",
        group=decision.group,
        days=decision.days,
        reason=decision.reason,
        actor=actor,
    )
    if subj.file_key:
        store.delete(subj.file_key)
    with db.session() as s:
        s.execute(delete(TranscriptRow).where(TranscriptRow.recording_id == subj.recording_id))
        s.execute(delete(NoteRow).where(NoteRow.recording_id == subj.recording_id))
        for row in (RecordingCategoryRow, RecordingFieldRow):  # workspace: categories, fields
            s.execute(delete(row).where(row.recording_id == subj.recording_id))
        s.execute(delete(RecordingRow).where(RecordingRow.id == subj.recording_id))


def deletion_log(db: Database, limit: int = 100) -> list[RetentionDeletionRow]:
    with db.session() as s:
        q = select(RetentionDeletionRow).order_by(RetentionDeletionRow.id.desc()).limit(limit)
        return list(s.scalars(q))


# ---------------------------------------------------------------- archive ledger


_ELIGIBLE_DONE = (RecordingStatus.processed.value, RecordingStatus.failed.value)


def pending_recordings(
    db: Database,
    archive: str,
    plan: str,
    *,
    need_transcript: bool = False,
    limit: int | None = None,
) -> list[Recording]:
    """Recordings that are not yet fully archived by ``archive`` under ``plan``, oldest first.

    One indexed anti-join: with nothing new this is the whole cost of a no-op run.
    """
    from catalog.repository import recording_from_row

    done = exists().where(
        and_(
            ArchiveDoneRow.archive == archive,
            ArchiveDoneRow.recording_id == RecordingRow.id,
            ArchiveDoneRow.plan == plan,
        )
    )
    q = select(RecordingRow).where(RecordingRow.file_key != "", ~done)
    if need_transcript:
        q = q.where(RecordingRow.status.in_(_ELIGIBLE_DONE))
    q = q.order_by(RecordingRow.started_at, RecordingRow.id)
    if limit:
        q = q.limit(limit)
    with db.session() as s:
        return [recording_from_row(r) for r in s.scalars(q)]


def count_pending(db: Database, archive: str, plan: str, *, need_transcript: bool = False) -> int:
    done = exists().where(
        and_(
            ArchiveDoneRow.archive == archive,
            ArchiveDoneRow.recording_id == RecordingRow.id,
            ArchiveDoneRow.plan == plan,
        )
    )
    q = select(func.count()).select_from(RecordingRow).where(RecordingRow.file_key != "", ~done)
    if need_transcript:
        q = q.where(RecordingRow.status.in_(_ELIGIBLE_DONE))
    with db.session() as s:
        return int(s.scalar(q) or 0)


@dataclass(frozen=True)
class LedgerEntry:
    archive: str
    role: str
    connector: str
    recording_id: str
    name: str
    key: str
    size: int
    checksum: str
    uploaded_at: datetime
    verified_at: datetime


def ledger_for(
    db: Database, archive: str, recording_ids: Sequence[str]
) -> dict[tuple[str, str, str], LedgerEntry]:
    """(recording_id, role, name) → entry, for resuming a partly archived recording."""
    out: dict[tuple[str, str, str], LedgerEntry] = {}
    ids = list(recording_ids)
    with db.session() as s:
        for i in range(0, len(ids), 500):
            q = select(ArchiveObjectRow).where(
                ArchiveObjectRow.archive == archive,
                ArchiveObjectRow.recording_id.in_(ids[i : i + 500]),
            )
            for r in s.scalars(q):
                out[(r.recording_id, r.role, r.name)] = _entry(r)
    return out


def _entry(r: ArchiveObjectRow) -> LedgerEntry:
    return LedgerEntry(
        r.archive,
        r.role,
        r.connector,
        r.recording_id,
        r.name,
        r.key,
        r.size,
        r.checksum,
        assume_utc(r.uploaded_at),
        assume_utc(r.verified_at),
    )


def record_objects(db: Database, entries: Sequence[LedgerEntry]) -> None:
    """Insert verified objects; an entry for the same (archive, role, recording, name) is
    replaced (the key may change when the layout changes)."""
    if not entries:
        return
    by_archive: dict[str, list[tuple[str, str, str]]] = {}
    for e in entries:
        by_archive.setdefault(e.archive, []).append((e.role, e.recording_id, e.name))
    with db.session() as s:
        for archive, keys in by_archive.items():
            for i in range(0, len(keys), 300):
                s.execute(
                    delete(ArchiveObjectRow).where(
                        ArchiveObjectRow.archive == archive,
                        tuple_(
                            ArchiveObjectRow.role,
                            ArchiveObjectRow.recording_id,
                            ArchiveObjectRow.name,
                        ).in_(keys[i : i + 300]),
                    )
                )
        s.add_all(
            ArchiveObjectRow(
                archive=e.archive,
                role=e.role,
                connector=e.connector,
                recording_id=e.recording_id,
                name=e.name,
                key=e.key,
                size=e.size,
                checksum=e.checksum,
                uploaded_at=e.uploaded_at,
                verified_at=e.verified_at,
            )
            for e in entries
        )


def mark_done(db: Database, archive: str, items: Sequence[tuple[str, bool]], plan: str) -> None:
    """Mark (recording_id, moved) pairs fully archived under ``plan``."""
    if not items:
        return
    now = utcnow()
    with db.session() as s:
        ids = [rid for rid, _ in items]
        for i in range(0, len(ids), 500):
            s.execute(
                delete(ArchiveDoneRow).where(
                    ArchiveDoneRow.archive == archive,
                    ArchiveDoneRow.recording_id.in_(ids[i : i + 500]),
                )
            )
        s.add_all(
            ArchiveDoneRow(archive=archive, recording_id=rid, plan=plan, done_at=now, moved=moved)
            for rid, moved in items
        )


def archive_objects(db: Database, recording_id: str) -> list[LedgerEntry]:
    """Where a recording was archived (for `recordings show`, playback after a move)."""
    with db.session() as s:
        q = select(ArchiveObjectRow).where(ArchiveObjectRow.recording_id == recording_id)
        return [_entry(r) for r in s.scalars(q.order_by(ArchiveObjectRow.id))]


def ledger_stats(db: Database, archive: str) -> dict[str, int]:
    with db.session() as s:
        objects, size = s.execute(
            select(func.count(), func.coalesce(func.sum(ArchiveObjectRow.size), 0)).where(
                ArchiveObjectRow.archive == archive
            )
        ).one()
        done = s.scalar(
            select(func.count())
            .select_from(ArchiveDoneRow)
            .where(ArchiveDoneRow.archive == archive)
        )
    return {"objects": int(objects), "bytes": int(size), "recordings": int(done or 0)}
