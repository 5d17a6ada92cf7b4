"""Catalog operations for keyword triggers: the rules document, matches, the alert ledger.

The catalog imports nothing of ours, so this module takes plain mappings in (a match is the JSON
form of ``triggers.models.Match``; the rules document is ``{"version", "rules": [...]}``) and
hands stored matches back as :class:`StoredMatch`; the flows and the CLI turn rules into the
triggers core's models.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from catalog.models import utcnow
from catalog.repository import Catalog
from catalog.tables import RecordingRow, TranscriptRow
from catalog.trigger_tables import TriggerAlertRow, TriggerMatchRow

RULES_DOCUMENT = "keyword_rules"
MATCH_FIELDS = ("rule", "phrase", "kind", "speaker", "start", "end", "snippet", "confidence")


class StoredMatch(BaseModel):
    """A keyword match as stored for a recording (``recflow recordings show``, the portal)."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(description="Rule name")
    phrase: str = Field(description="The rule's phrase as written")
    kind: str = Field(description="phrase | near | absent")
    speaker: str | None = Field(description="caller | callee; None for absence over both")
    start: float = Field(description="Seconds from the start of the call")
    end: float = Field(description="Seconds from the start of the call")
    snippet: str = Field("", description="Words around the match")
    confidence: float | None = Field(
        None, description="Least probability of the matched words (None for absence)"
    )
    rules_version: str = Field("", description="Version of the rules that found it")


# ---------------------------------------------------------------- rules document


def load_rules_document(catalog: Catalog) -> dict[str, Any]:
    """The stored rules as ``{"version": str, "rules": [rule dicts as the file writes them]}``."""
    doc = catalog.get_document(RULES_DOCUMENT)
    return doc if doc is not None else {"version": "", "rules": []}


def save_rules_document(catalog: Catalog, version: str, rules: Sequence[Mapping[str, Any]]) -> bool:
    """Store the rules; False when they were already exactly these (apply stays idempotent)."""
    current = catalog.get_document(RULES_DOCUMENT)
    if current is not None and current.get("version") == version:
        return False
    catalog.put_document(RULES_DOCUMENT, {"version": version, "rules": [dict(r) for r in rules]})
    return True


# ---------------------------------------------------------------- matches


def replace_matches(
    catalog: Catalog, recording_id: str, matches: Sequence[Mapping[str, Any]], rules_version: str
) -> None:
    """The recording's matches become exactly ``matches`` (one transaction: a re-evaluation
    never leaves a mix of old and new)."""
    now = utcnow()
    with catalog.db.session() as s:
        s.execute(delete(TriggerMatchRow).where(TriggerMatchRow.recording_id == recording_id))
        for m in matches:
            s.add(
                TriggerMatchRow(
                    recording_id=recording_id,
                    rules_version=rules_version,
                    created_at=now,
                    **{k: m.get(k) for k in MATCH_FIELDS},
                )
            )


def matches_for_recording(catalog: Catalog, recording_id: str) -> list[StoredMatch]:
    """Stored matches of one recording, in call order."""
    with catalog.db.session() as s:
        rows = s.scalars(
            select(TriggerMatchRow)
            .where(TriggerMatchRow.recording_id == recording_id)
            .order_by(TriggerMatchRow.start, TriggerMatchRow.id)
        ).all()
        return [
            StoredMatch(rules_version=r.rules_version, **{k: getattr(r, k) for k in MATCH_FIELDS})
            for r in rows
        ]


def recordings_matching(catalog: Catalog, rule: str, *, limit: int = 100) -> list[str]:
    """Recording ids with a stored match of ``rule``, newest first (the portal's rule page)."""
    with catalog.db.session() as s:
        rows = s.execute(
            select(TriggerMatchRow.recording_id)
            .where(TriggerMatchRow.rule == rule)
            .group_by(TriggerMatchRow.recording_id)
            .order_by(TriggerMatchRow.recording_id)
            .limit(limit)
        ).all()
        return [r[0] for r in rows]


# ---------------------------------------------------------------- alert ledger


def claim_alert(catalog: Catalog, recording_id: str, rule: str, connector: str) -> bool:
    """True when this caller should send the alert: nobody has, or a run died before finishing.

    The unique (recording, rule, connector) row is taken by insert; a row already ``sent``
    means the alert went out and this is a retry or a backfill.
    """
    now = utcnow()
    try:
        with catalog.db.session() as s:
            s.add(
                TriggerAlertRow(
                    recording_id=recording_id,
                    rule=rule,
                    connector=connector,
                    status="sending",
                    created_at=now,
                    updated_at=now,
                )
            )
        return True
    except IntegrityError:
        with catalog.db.session() as s:
            status = s.scalar(
                select(TriggerAlertRow.status).where(
                    TriggerAlertRow.recording_id == recording_id,
                    TriggerAlertRow.rule == rule,
                    TriggerAlertRow.connector == connector,
                )
            )
        # "sending": a previous run died mid-way; the delivery's idempotency key stops a
        # second external effect if it had in fact gone out
        return status != "sent"


def mark_alert_sent(
    catalog: Catalog, recording_id: str, rule: str, connector: str, delivery_id: str = ""
) -> None:
    with catalog.db.session() as s:
        s.execute(
            update(TriggerAlertRow)
            .where(
                TriggerAlertRow.recording_id == recording_id,
                TriggerAlertRow.rule == rule,
                TriggerAlertRow.connector == connector,
            )
            .values(status="sent", delivery_id=delivery_id, updated_at=utcnow())
        )


def alerts_for_recording(catalog: Catalog, recording_id: str) -> list[dict[str, Any]]:
    with catalog.db.session() as s:
        rows = s.scalars(
            select(TriggerAlertRow)
            .where(TriggerAlertRow.recording_id == recording_id)
            .order_by(TriggerAlertRow.id)
        ).all()
        return [
            {
                "rule": r.rule,
                "connector": r.connector,
                "status": r.status,
                "delivery_id": r.delivery_id,
            }
            for r in rows
        ]


# ---------------------------------------------------------------- backfill


def transcribed_recording_ids(
    catalog: Catalog, since: datetime | None, until: datetime | None, *, batch: int = 500
) -> Iterator[list[str]]:
    """Ids of recordings that have a transcript, started in ``[since, until)``, oldest first,
    in batches (keyset pagination: stable while new calls keep arriving)."""
    last: tuple[datetime, str] | None = None
    while True:
        q = (
            select(RecordingRow.started_at, RecordingRow.id)
            .join(TranscriptRow, TranscriptRow.recording_id == RecordingRow.id)
            .order_by(RecordingRow.started_at, RecordingRow.id)
            .limit(batch)
        )
        if since is not None:
            q = q.where(RecordingRow.started_at >= since)
        if until is not None:
            q = q.where(RecordingRow.started_at < until)
        if last is not None:
            q = q.where(
                (RecordingRow.started_at > last[0])
                | ((RecordingRow.started_at == last[0]) & (RecordingRow.id > last[1]))
            )
        with catalog.db.session() as s:
            rows = s.execute(q).all()
        if not rows:
            return
        yield [r[1] for r in rows]
        last = (rows[-1][0], rows[-1][1])
        if len(rows) < batch:
            return


def unsent_alerts(catalog: Catalog, recording_id: str) -> list[tuple[str, str]]:
    """(rule, connector) of this recording's alerts that were claimed but never marked sent:
    the send failed (or its run died). `process-recording` treats them as a failure, so the
    recording is not `processed` until a retry sends them."""
    with catalog.db.session() as s:
        rows = s.execute(
            select(TriggerAlertRow.rule, TriggerAlertRow.connector).where(
                TriggerAlertRow.recording_id == recording_id, TriggerAlertRow.status != "sent"
            )
        ).all()
        return [(r, c) for r, c in rows]
