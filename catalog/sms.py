"""SMS in the catalog: the domain model, validation, durable idempotent ingest, the contacts
directory and the SMS settings document.

Both ways in (SIP ``MESSAGE`` at the recorder, ``POST /api/v1/sms`` at the portal) call
:func:`ingest_sms`. It validates everything first and then writes one complete row in one
transaction, so a bad message is rejected with the field named and nothing half-stored. A
retransmitted SIP MESSAGE (same Call-ID and content) or a retried API call (same numbers,
timestamp and text) maps to the same ``dedup_key`` and returns the row already stored.

Life of a message: ``pending`` (durable, waiting for a worker) → ``processing`` (a worker claimed
it and runs ``sms-to-email``) → ``processed`` | ``failed``: the work-item state machine of
``catalog.work_items``, shared with recordings (same claim, lease and requeue rules).
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from catalog import work_items
from catalog.models import Direction, assume_utc, new_id, utcnow
from catalog.sms_tables import ContactRow, SmsRow

if TYPE_CHECKING:
    from catalog.repository import Catalog

MAX_SMS_CHARS = 1600  # ten concatenated 160-character segments; what carriers' APIs accept
SETTINGS_KEY = "sms"
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_FUTURE_SLACK = timedelta(days=1)  # clocks drift; a day ahead is a bad timestamp, not drift
_PHONE_PUNCT = re.compile(r"[\s().\-]")
_PHONE = re.compile(r"^\+?[0-9*#]{1,32}$")
_SENDER_ID = re.compile(r"^[A-Za-z0-9+*#._\-]{1,64}$")  # alphanumeric sender ids ("ACMEBANK")


# ---------------------------------------------------------------------------- models


class SmsStatus(str, enum.Enum):  # noqa: UP042 (as catalog.models does)
    pending = "pending"  # durable in the catalog, not yet accepted by Prefect
    dispatched = "dispatched"  # v1 only (a run created before any claim); read as pending
    processing = "processing"  # a worker claimed it (catalog.work_items)
    processed = "processed"  # the one successful run finished (emailed, or email is off)
    failed = "failed"  # a permanent error; `recflow sms list` shows it


class Sms(BaseModel):
    """One SMS, inbound or outbound from the subscriber's point of view."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_id, description="Interaction id (unique per SMS)")
    call_id: str = Field("", description="SIP Call-ID of the MESSAGE, when it came by SIP")
    source: str = Field("api", description="sip or api")
    subscriber: str = Field(description="The recorded subscriber's number (from or to)")
    from_number: str = Field(description="Sender number or alphanumeric sender id")
    from_name: str = Field("", description="Sender display name as signalled")
    to_number: str = Field(description="Recipient number")
    to_name: str = Field("", description="Recipient display name as signalled")
    direction: Direction = Field(description="inbound when the subscriber received it")
    received_at: datetime = Field(description="When the SMS was sent/received (UTC)")
    text: str = Field(description="The message, as Unicode text")
    status: SmsStatus = SmsStatus.pending
    attempt: int = Field(0, description="Processing attempt; bumps when a lost run is retried")
    flow_run_id: str | None = None
    error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None


class SmsValidationError(ValueError):
    """Bad input; ``field`` names the offending field (``from_number``, ``text``, …)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class SmsEmailSettings(BaseModel):
    """SMS-to-email (the Focus "SMS to Email" integration). Defaults reproduce the seed."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Send a copy of every SMS by email")
    to: list[str] = Field(default_factory=list, description="Address(es) the copies go to")
    connector: str = Field("", description="Name of the configured `email` connector to send with")
    header_prefix: str = Field(
        "X-O2MR-", description="Prefix of the Interaction-ID / SMS-* headers archive tools read"
    )
    static_text: str = Field("O2 MR SMS from", description="Static text the email starts with")
    subject_template: str | None = Field(
        None, description="Jinja2 template of the subject; empty = the shipped sms_email_subject"
    )
    body_template: str | None = Field(
        None, description="Jinja2 template of the plain-text body; empty = sms_email_body"
    )

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for addr in v:
            if not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+", addr):
                raise ValueError(f"not an email address: {addr!r}")
        return v

    @field_validator("header_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9\-]*-", v):
            raise ValueError("letters, digits and '-', ending with '-' (e.g. X-O2MR-)")
        return v


class SmsCsvSettings(BaseModel):
    """The monthly SMS CSV (Focus "SFTP Structure → SMS")."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Write the monthly CSV files on a schedule")
    schedule: str = Field(
        "15 0 * * *", description="Cron (UTC) of the export run: rewrites this and last month"
    )
    account_id: str = Field(
        "", description="Account id in the file name; empty = the account name, sanitised"
    )
    file_name: str = Field(
        "{{ account }}_SMSMessages_{{ year }}_{{ month }}.csv",
        description="Jinja2 template of the file name (account, year 'YYYY', month 'MM')",
    )


class SmsSettings(BaseModel):
    """The `sms:` section of the config file, stored as one settings document."""

    model_config = ConfigDict(extra="forbid")

    subscribers: list[str] = Field(
        default_factory=list,
        description="Subscriber numbers; an SMS from one is outbound, to one inbound. When no "
        "subscriber is given or listed, the recipient is taken as the subscriber (inbound)",
    )
    max_chars: int = Field(MAX_SMS_CHARS, ge=1, le=65536, description="Longest SMS accepted")
    to_email: SmsEmailSettings = Field(default_factory=SmsEmailSettings)
    monthly_csv: SmsCsvSettings = Field(default_factory=SmsCsvSettings)


# ---------------------------------------------------------------------------- validation


def number_key(number: str) -> str:
    """The form numbers are compared in: formatting dropped, ``+`` dropped."""
    n = number.strip()
    squeezed = _PHONE_PUNCT.sub("", n)
    if _PHONE.match(squeezed):
        return squeezed.lstrip("+")
    return n.lower()


def clean_number(value: Any, field: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SmsValidationError(field, "missing")
    if not isinstance(value, str):
        raise SmsValidationError(field, "must be a string")
    n = value.strip()
    squeezed = _PHONE_PUNCT.sub("", n)
    if _PHONE.match(squeezed):
        return squeezed
    if _SENDER_ID.match(n):
        return n
    raise SmsValidationError(
        field, f"not a phone number or sender id: {value[:40]!r} (E.164 like +447700900127)"
    )


def clean_text(value: Any, max_chars: int = MAX_SMS_CHARS) -> str:
    if value is None:
        raise SmsValidationError("text", "missing")
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SmsValidationError(
                "text", f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})"
            ) from None
    if not isinstance(value, str):
        raise SmsValidationError("text", "must be a string")
    try:
        value.encode("utf-8")  # lone surrogates (undecodable bytes smuggled in a str)
    except UnicodeEncodeError as e:
        raise SmsValidationError("text", f"not valid UTF-8 (at character {e.start})") from None
    if not value.strip():
        raise SmsValidationError("text", "empty")
    if "\x00" in value:
        raise SmsValidationError("text", "contains a NUL character")
    if len(value) > max_chars:
        raise SmsValidationError("text", f"{len(value)} characters; the limit is {max_chars}")
    return value


def clean_timestamp(
    value: Any, field: str = "received_at", *, now: datetime | None = None
) -> datetime:
    """ISO 8601 (``Z`` or an offset; no offset means UTC), epoch seconds, or a datetime."""
    now = now or utcnow()
    if value is None or value == "":
        raise SmsValidationError(field, "missing")
    if isinstance(value, bool):
        raise SmsValidationError(field, "not a timestamp")
    if isinstance(value, int | float):
        try:
            ts = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise SmsValidationError(field, f"epoch seconds out of range: {value}") from None
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip())
        except ValueError:
            raise SmsValidationError(
                field, f"not an ISO 8601 timestamp: {value[:40]!r} (e.g. 2025-05-03T10:30:00Z)"
            ) from None
    elif isinstance(value, datetime):
        ts = value
    else:
        raise SmsValidationError(field, "not a timestamp")
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    if ts < _EARLIEST:
        raise SmsValidationError(field, f"{ts.isoformat()} is before 2000")
    if ts > now + _FUTURE_SLACK:
        raise SmsValidationError(field, f"{ts.isoformat()} is in the future")
    return ts


def dedup_key(
    *, call_id: str, from_number: str, to_number: str, received_at: datetime, text: str
) -> str:
    """Same SMS → same key. A SIP retransmission keeps its Call-ID but not our receive time;
    an API retry keeps its timestamp but has no Call-ID."""
    if call_id:
        parts = ("sip", call_id, number_key(from_number), number_key(to_number), text)
    else:
        parts = (
            "msg",
            number_key(from_number),
            number_key(to_number),
            received_at.isoformat(),
            text,
        )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def work_out_direction(
    subscriber: str | None, from_number: str, to_number: str, subscribers: list[str]
) -> tuple[str, Direction]:
    """(subscriber, direction). The subscriber sends outbound and receives inbound SMS."""
    fk, tk = number_key(from_number), number_key(to_number)
    if subscriber:
        sk = number_key(subscriber)
        if sk == fk:
            return subscriber, Direction.outbound
        if sk == tk:
            return subscriber, Direction.inbound
        raise SmsValidationError("subscriber", "must be the from or the to number")
    known = {number_key(n) for n in subscribers}
    if fk in known and tk in known:
        return from_number, Direction.internal
    if fk in known:
        return from_number, Direction.outbound
    # a copy delivered to us without saying whose it is: the recipient is the subscriber
    return to_number, Direction.inbound


# ---------------------------------------------------------------------------- rows


def sms_from_row(row: SmsRow) -> Sms:
    return Sms(
        id=row.id,
        call_id=row.call_id,
        source=row.source,
        subscriber=row.subscriber,
        from_number=row.from_number,
        from_name=row.from_name,
        to_number=row.to_number,
        to_name=row.to_name,
        direction=Direction(row.direction),
        received_at=assume_utc(row.received_at),
        text=row.text,
        status=SmsStatus(row.status),
        attempt=row.attempt,
        flow_run_id=row.flow_run_id,
        error=row.error,
        created_at=assume_utc(row.created_at),
        processed_at=assume_utc(row.processed_at),
    )


# ---------------------------------------------------------------------------- settings


def get_sms_settings(catalog: Catalog) -> SmsSettings:
    doc = catalog.get_document(SETTINGS_KEY)
    return SmsSettings.model_validate(doc) if doc else SmsSettings()


def save_sms_settings(catalog: Catalog, settings: SmsSettings) -> None:
    catalog.put_document(SETTINGS_KEY, settings.model_dump(mode="json"))


# ---------------------------------------------------------------------------- ingest


def ingest_sms(
    catalog: Catalog,
    *,
    from_number: str,
    to_number: str,
    text: str | bytes,
    received_at: datetime | str | float | None,
    call_id: str = "",
    from_name: str = "",
    subscriber: str | None = None,
    to_name: str = "",
    source: str | None = None,
) -> Sms:
    """Validate and store one SMS durably (idempotent); raises :class:`SmsValidationError`."""
    return ingest_sms_ex(
        catalog,
        from_number=from_number,
        to_number=to_number,
        text=text,
        received_at=received_at,
        call_id=call_id,
        from_name=from_name,
        subscriber=subscriber,
        to_name=to_name,
        source=source,
    )[0]


def ingest_sms_ex(
    catalog: Catalog,
    *,
    from_number: str,
    to_number: str,
    text: str | bytes,
    received_at: datetime | str | float | None,
    call_id: str = "",
    from_name: str = "",
    subscriber: str | None = None,
    to_name: str = "",
    source: str | None = None,
    settings: SmsSettings | None = None,
) -> tuple[Sms, bool]:
    """As :func:`ingest_sms`; also says whether the SMS is new (False: already stored)."""
    settings = settings or get_sms_settings(catalog)
    frm = clean_number(from_number, "from_number")
    to = clean_number(to_number, "to_number")
    body = clean_text(text, settings.max_chars)
    when = clean_timestamp(received_at, "received_at")
    sub = clean_number(subscriber, "subscriber") if subscriber not in (None, "") else None
    sub, direction = work_out_direction(sub, frm, to, settings.subscribers)
    call_id = (call_id or "").strip()[:255]
    sms = Sms(
        call_id=call_id,
        source=source or ("sip" if call_id else "api"),
        subscriber=sub,
        from_number=frm,
        from_name=(from_name or "").strip()[:255],
        to_number=to,
        to_name=(to_name or "").strip()[:255],
        direction=direction,
        received_at=when,
        text=body,
    )
    key = dedup_key(call_id=call_id, from_number=frm, to_number=to, received_at=when, text=body)
    values = sms.model_dump(mode="python")
    values.update(
        dedup_key=key,
        direction=direction.value,
        status=sms.status.value,
        status_changed_at=sms.created_at,
    )
    try:
        with catalog.db.session() as s:
            s.add(SmsRow(**values))
        return sms, True
    except IntegrityError:
        with catalog.db.session() as s:
            row = s.scalars(select(SmsRow).where(SmsRow.dedup_key == key)).first()
            if row is None:  # not a duplicate after all: a real constraint problem
                raise
            return sms_from_row(row), False


# ---------------------------------------------------------------------------- queries


def get_sms(catalog: Catalog, sms_id: str) -> Sms | None:
    with catalog.db.session() as s:
        row = s.get(SmsRow, sms_id)
        if row is None and len(sms_id) >= 4:
            rows = s.scalars(select(SmsRow).where(SmsRow.id.startswith(sms_id)).limit(2)).all()
            row = rows[0] if len(rows) == 1 else None
        return sms_from_row(row) if row else None


def list_sms(
    catalog: Catalog,
    *,
    limit: int | None = 100,
    since: datetime | None = None,
    until: datetime | None = None,
    number: str | None = None,
    status: SmsStatus | None = None,
    oldest_first: bool = False,
) -> list[Sms]:
    return list(
        iter_sms(
            catalog,
            limit=limit,
            since=since,
            until=until,
            number=number,
            status=status,
            oldest_first=oldest_first,
        )
    )


def iter_sms(
    catalog: Catalog,
    *,
    limit: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    number: str | None = None,
    status: SmsStatus | None = None,
    oldest_first: bool = True,
    batch: int = 2000,
) -> Iterator[Sms]:
    """Messages by time, in keyset pages so a month of SMS never sits in memory at once."""
    order = (SmsRow.received_at, SmsRow.id)
    q = select(SmsRow)
    if since is not None:
        q = q.where(SmsRow.received_at >= since)
    if until is not None:
        q = q.where(SmsRow.received_at < until)
    if number:
        q = q.where(or_(SmsRow.from_number == number, SmsRow.to_number == number))
    if status is not None:
        q = q.where(SmsRow.status == status.value)
    q = q.order_by(*(c.asc() if oldest_first else c.desc() for c in order))
    yielded = 0
    last: tuple[datetime, str] | None = None
    while True:
        page = q
        if last is not None:
            t, i = last
            if oldest_first:
                page = page.where(
                    or_(SmsRow.received_at > t, (SmsRow.received_at == t) & (SmsRow.id > i))
                )
            else:
                page = page.where(
                    or_(SmsRow.received_at < t, (SmsRow.received_at == t) & (SmsRow.id < i))
                )
        n = batch if limit is None else min(batch, limit - yielded)
        if n <= 0:
            return
        with catalog.db.session() as s:
            rows = list(s.scalars(page.limit(n)))
            items = [sms_from_row(r) for r in rows]
        yield from items
        yielded += len(items)
        if len(items) < n:
            return
        last = (rows[-1].received_at, rows[-1].id)


def count_sms_by_status(catalog: Catalog) -> dict[str, int]:
    with catalog.db.session() as s:
        rows = s.execute(select(SmsRow.status, func.count()).group_by(SmsRow.status)).all()
        return {status: n for status, n in rows}


def first_sms_time(catalog: Catalog) -> datetime | None:
    with catalog.db.session() as s:
        return assume_utc(s.scalar(select(func.min(SmsRow.received_at))))


# ---------------------------------------------------------------------------- state machine


SMS_QUEUE = work_items.WorkQueue(
    SmsRow,
    ready=SmsStatus.pending,
    processing=SmsStatus.processing,
    done=SmsStatus.processed,
    failed=SmsStatus.failed,
    legacy_ready=(SmsStatus.dispatched,),
)


def pending_sms(catalog: Catalog, limit: int = 200) -> list[Sms]:
    q = (
        select(SmsRow)
        .where(SmsRow.status == SmsStatus.pending.value)
        .order_by(SmsRow.created_at)
        .limit(limit)
    )
    with catalog.db.session() as s:
        return [sms_from_row(r) for r in s.scalars(q)]


def claim_next_sms(catalog: Catalog, worker_id: str, limit: int) -> list[work_items.Claim]:
    """Claim up to ``limit`` pending SMS for ``worker_id`` (catalog.work_items)."""
    return SMS_QUEUE.claim_next(catalog.db, worker_id, limit)


def claim_sms(catalog: Catalog, sms_id: str, attempt: int, worker_id: str) -> bool:
    """Claim one pending SMS; False when another worker holds it or it is already done."""
    return SMS_QUEUE.claim(catalog.db, sms_id, attempt, worker_id)


def claim_sms_rerun(catalog: Catalog, sms_id: str, worker_id: str) -> work_items.Claim | None:
    return SMS_QUEUE.claim_rerun(catalog.db, sms_id, worker_id)


def attach_sms_run(
    catalog: Catalog, sms_id: str, attempt: int, worker_id: str, flow_run_id: str
) -> bool:
    return SMS_QUEUE.attach_run(catalog.db, sms_id, attempt, worker_id, flow_run_id)


def complete_sms(catalog: Catalog, sms_id: str, attempt: int, worker_id: str) -> bool:
    return SMS_QUEUE.complete(catalog.db, sms_id, attempt, worker_id)


def fail_sms(
    catalog: Catalog, sms_id: str, attempt: int, error: str, worker_id: str | None = None
) -> bool:
    return SMS_QUEUE.fail(catalog.db, sms_id, attempt, error, worker_id)


def release_sms(catalog: Catalog, sms_id: str, attempt: int, worker_id: str) -> bool:
    return SMS_QUEUE.release(catalog.db, sms_id, attempt, worker_id)


def requeue_sms(
    catalog: Catalog, sms_id: str, *, from_statuses: set[SmsStatus], max_attempts: int = 5
) -> int | None:
    """Hand an SMS out again under the next attempt (its run was lost); None when it is not
    in ``from_statuses`` any more. After ``max_attempts`` it is marked failed instead."""
    return SMS_QUEUE.requeue(
        catalog.db, sms_id, from_statuses=from_statuses, max_attempts=max_attempts
    )


def orphaned_sms(catalog: Catalog, lease_seconds: float) -> list[work_items.Claim]:
    """SMS held by workers that stopped heartbeating (the lease rule of recordings)."""
    return SMS_QUEUE.orphaned(catalog.db, lease_seconds)


def retry_failed_sms(catalog: Catalog, sms_id: str) -> bool:
    """Operator retry: a failed SMS goes back to pending under a new attempt."""
    with catalog.db.session() as s:
        res = s.execute(
            update(SmsRow)
            .where(SmsRow.id == sms_id, SmsRow.status == SmsStatus.failed.value)
            .values(
                status=SmsStatus.pending.value,
                attempt=SmsRow.attempt + 1,
                flow_run_id=None,
                status_changed_at=utcnow(),
            )
        )
        return res.rowcount == 1  # type: ignore[attr-defined, no-any-return]


# ---------------------------------------------------------------------------- contacts


def contacts(catalog: Catalog) -> dict[str, str]:
    """number (as entered) → name."""
    with catalog.db.session() as s:
        return {r.number: r.name for r in s.scalars(select(ContactRow).order_by(ContactRow.number))}


def contact_names(catalog: Catalog, numbers: list[str]) -> dict[str, str]:
    """Names for these numbers (keys as given), only for those in the directory."""
    keys = {number_key(n): n for n in numbers if n}
    if not keys:
        return {}
    with catalog.db.session() as s:
        rows = s.scalars(select(ContactRow).where(ContactRow.number_key.in_(list(keys))))
        return {keys[r.number_key]: r.name for r in rows}


def replace_contacts(catalog: Catalog, directory: Mapping[str, str]) -> list[str]:
    """Make the directory exactly ``directory``; one line per change."""
    wanted: dict[str, tuple[str, str]] = {}
    for number, name in directory.items():
        wanted[number_key(number)] = (number, name)
    changes: list[str] = []
    now = utcnow()
    with catalog.db.session() as s:
        current = {r.number_key: r for r in s.scalars(select(ContactRow))}
        for key, old in current.items():
            if key not in wanted:
                s.delete(old)
                changes.append(f"contacts: removed {old.number}")
        for key, (number, name) in wanted.items():
            row = current.get(key)
            if row is None:
                s.add(ContactRow(number_key=key, number=number, name=name, updated_at=now))
                changes.append(f"contacts: added {number} ({name})")
            elif row.name != name or row.number != number:
                changes.append(f"contacts: {number}: {row.name!r} -> {name!r}")
                row.name, row.number, row.updated_at = name, number, now
    return changes


def upsert_contact(catalog: Catalog, number: str, name: str) -> None:
    number = clean_number(number, "number")
    key = number_key(number)
    with catalog.db.session() as s:
        row = s.get(ContactRow, key)
        if row is None:
            s.add(ContactRow(number_key=key, number=number, name=name, updated_at=utcnow()))
        else:
            row.name, row.number, row.updated_at = name, number, utcnow()


def delete_contact(catalog: Catalog, number: str) -> bool:
    with catalog.db.session() as s:
        res = s.execute(delete(ContactRow).where(ContactRow.number_key == number_key(number)))
        return res.rowcount == 1  # type: ignore[attr-defined, no-any-return]
