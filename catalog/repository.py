"""The catalog's operations: the only code that reads and writes the spine's tables.

State changes of a recording are compare-and-set updates (``UPDATE … WHERE status = …``), so two
processes can race for the same recording and exactly one wins; that is what makes "processed
exactly once" hold across crashes, restarts and several workers.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from catalog import work_items
from catalog.db import Database, database_for
from catalog.models import (
    AccountSettings,
    Delivery,
    DeliveryStatus,
    Recording,
    RecordingStatus,
    Transcript,
    assume_utc,
    utcnow,
)
from catalog.settings import RecflowSettings, get_settings
from catalog.store import LocalStore, RecordingStore
from catalog.tables import DeliveryRow, RecordingRow, SettingRow, TranscriptRow, WorkerRow


def recording_from_row(row: RecordingRow) -> Recording:
    return Recording(
        id=row.id,
        call_id=row.call_id,
        from_number=row.from_number,
        from_name=row.from_name,
        to_number=row.to_number,
        to_name=row.to_name,
        direction=row.direction,  # type: ignore[arg-type]
        started_at=assume_utc(row.started_at),
        answered_at=assume_utc(row.answered_at),
        ended_at=assume_utc(row.ended_at),
        duration_seconds=row.duration_seconds,
        channels=row.channels,
        sample_rate=row.sample_rate,
        codec=row.codec,
        file_key=row.file_key,
        file_size=row.file_size,
        sha256=row.sha256,
        private=row.private,
        participants=row.participants,  # type: ignore[arg-type]
        pauses=row.pauses,  # type: ignore[arg-type]
        metadata=row.metadata_,
        status=row.status,  # type: ignore[arg-type]
        attempt=row.attempt,
        flow_run_id=row.flow_run_id,
        error=row.error,
        created_at=assume_utc(row.created_at),
        processed_at=assume_utc(row.processed_at),
    )


def _row_values(rec: Recording) -> dict[str, Any]:
    data = rec.model_dump(mode="python")
    data["metadata_"] = data.pop("metadata")
    data["participants"] = [p.model_dump(mode="json") for p in rec.participants]
    data["pauses"] = [p.model_dump(mode="json") for p in rec.pauses]
    data["direction"] = rec.direction.value
    data["status"] = rec.status.value
    return data


RECORDINGS = work_items.WorkQueue(
    RecordingRow,
    ready=RecordingStatus.captured,
    processing=RecordingStatus.processing,
    done=RecordingStatus.processed,
    failed=RecordingStatus.failed,
    legacy_ready=(RecordingStatus.dispatched,),
)


class Catalog:
    """Catalog operations over one database and one recording store."""

    def __init__(self, db: Database, store: RecordingStore, settings: RecflowSettings) -> None:
        self.db = db
        self.store = store
        self.settings = settings

    @classmethod
    def open(cls, settings: RecflowSettings | None = None) -> Catalog:
        settings = settings or get_settings()
        data_dir = settings.resolved_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        db = database_for(settings.resolved_database_url)
        return cls(db, LocalStore(data_dir / "recordings"), settings)

    # ---------------------------------------------------------------- recordings

    def add_recording(self, rec: Recording, audio: Path | None = None) -> Recording:
        """Make a recording durable: the file in the store first, then the row.

        A crash between the two leaves a file without a row, which ``orphans()`` finds and the
        capture side re-registers; never a row without a file.
        """
        if audio is not None:
            if not rec.file_key:
                day = rec.started_at.strftime("%Y/%m/%d")
                rec.file_key = f"{day}/{rec.id}{audio.suffix or '.wav'}"
            rec.file_size, rec.sha256 = self.store.put_file(rec.file_key, audio)
        with self.db.session() as s:
            s.add(RecordingRow(**_row_values(rec)))
        if audio is not None:
            from catalog.manifests import seal_quietly  # tamper evidence (quality)

            seal_quietly(self, [rec])
        return rec

    def add_recordings(self, recs: Sequence[Recording]) -> None:
        """Rows for recordings whose files are already in the store, in one transaction (the
        recorder's batch capture: one commit per batch of finished calls)."""
        with self.db.session() as s:
            s.add_all([RecordingRow(**_row_values(rec)) for rec in recs])

    def get_recording(self, recording_id: str) -> Recording | None:
        with self.db.session() as s:
            row = s.get(RecordingRow, recording_id)
            if row is None and len(recording_id) >= 4:
                # people type id prefixes, as with git
                rows = s.scalars(
                    select(RecordingRow).where(RecordingRow.id.startswith(recording_id)).limit(2)
                ).all()
                row = rows[0] if len(rows) == 1 else None
            return recording_from_row(row) if row else None

    def list_recordings(
        self,
        *,
        limit: int = 50,
        status: RecordingStatus | None = None,
        number: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Recording]:
        q = select(RecordingRow).order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc())
        if status is not None:
            q = q.where(RecordingRow.status == status.value)
        if number:
            q = q.where(or_(RecordingRow.from_number == number, RecordingRow.to_number == number))
        if since:
            q = q.where(RecordingRow.started_at >= since)
        if until:
            q = q.where(RecordingRow.started_at < until)
        with self.db.session() as s:
            return [recording_from_row(r) for r in s.scalars(q.limit(limit))]

    def count_by_status(self) -> dict[str, int]:
        with self.db.session() as s:
            rows = s.execute(
                select(RecordingRow.status, func.count()).group_by(RecordingRow.status)
            ).all()
            return {status: n for status, n in rows}

    def update_recording(self, recording_id: str, **values: Any) -> None:
        if "metadata" in values:
            values["metadata_"] = values.pop("metadata")
        with self.db.session() as s:
            s.execute(update(RecordingRow).where(RecordingRow.id == recording_id).values(**values))

    # ---------------------------------------------------------------- work-item state machine
    # (catalog.work_items: claim first, then run; one lease rule for recordings and SMS)

    def claim_recordings(self, worker_id: str, limit: int) -> list[work_items.Claim]:
        """Claim up to ``limit`` captured recordings for ``worker_id``, oldest first."""
        return RECORDINGS.claim_next(self.db, worker_id, limit)

    def claim(
        self, recording_id: str, attempt: int, worker_id: str, flow_run_id: str | None = None
    ) -> bool:
        """Claim one captured recording at ``attempt`` (and attach its run when given). Fails
        when another worker holds it or the attempt is stale."""
        if not RECORDINGS.claim(self.db, recording_id, attempt, worker_id):
            return False
        if flow_run_id:
            RECORDINGS.attach_run(self.db, recording_id, attempt, worker_id, flow_run_id)
        return True

    def claim_rerun(self, recording_id: str, worker_id: str) -> work_items.Claim | None:
        """Re-process on demand under the next attempt; None while another worker holds it."""
        return RECORDINGS.claim_rerun(self.db, recording_id, worker_id)

    def attach_run(self, recording_id: str, attempt: int, worker_id: str, flow_run_id: str) -> bool:
        """Record the flow run of a claim; False when the caller does not hold the claim."""
        return RECORDINGS.attach_run(self.db, recording_id, attempt, worker_id, flow_run_id)

    def complete(self, recording_id: str, attempt: int, worker_id: str) -> bool:
        """The one successful finish. False when this run lost its claim (a stale run)."""
        return RECORDINGS.complete(self.db, recording_id, attempt, worker_id)

    def fail(
        self, recording_id: str, attempt: int, error: str, worker_id: str | None = None
    ) -> bool:
        return RECORDINGS.fail(self.db, recording_id, attempt, error, worker_id)

    def release(self, recording_id: str, attempt: int, worker_id: str) -> bool:
        """Give a claim back (its run could not start); ready again under the same attempt."""
        return RECORDINGS.release(self.db, recording_id, attempt, worker_id)

    def requeue(
        self,
        recording_id: str,
        *,
        from_statuses: Iterable[RecordingStatus],
        max_attempts: int = 5,
    ) -> int | None:
        """Hand a recording out again under a new attempt number; returns the new attempt.

        After ``max_attempts`` the recording is marked failed instead: a recording that kills
        every worker that touches it must not loop forever."""
        return RECORDINGS.requeue(
            self.db, recording_id, from_statuses=from_statuses, max_attempts=max_attempts
        )

    def orphaned_claims(self, lease_seconds: float) -> list[work_items.Claim]:
        """Recordings held by workers that stopped heartbeating (crashed or killed)."""
        return RECORDINGS.orphaned(self.db, lease_seconds)

    def count_status(self, status: RecordingStatus) -> int:
        with self.db.session() as s:
            q = (
                select(func.count())
                .select_from(RecordingRow)
                .where(RecordingRow.status == status.value)
            )
            return int(s.scalar(q) or 0)

    # ---------------------------------------------------------------- workers

    def heartbeat(self, worker_id: str) -> None:
        now = utcnow()
        with self.db.session() as s:
            row = s.get(WorkerRow, worker_id)
            if row is None:
                s.add(
                    WorkerRow(
                        id=worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        heartbeat_at=now,
                        started_at=now,
                    )
                )
            else:
                row.heartbeat_at = now

    def list_workers(self) -> list[dict[str, Any]]:
        """Workers that have heartbeated (id, hostname, pid, heartbeat age in seconds)."""
        now = utcnow()
        with self.db.session() as s:
            rows = s.scalars(select(WorkerRow).order_by(WorkerRow.started_at)).all()
            return [
                {
                    "id": r.id,
                    "hostname": r.hostname,
                    "pid": r.pid,
                    "heartbeat_age_s": round(
                        (now - (assume_utc(r.heartbeat_at) or now)).total_seconds(), 1
                    ),
                }
                for r in rows
            ]

    def retire_worker(self, worker_id: str) -> None:
        with self.db.session() as s:
            s.execute(delete(WorkerRow).where(WorkerRow.id == worker_id))

    # ---------------------------------------------------------------- transcripts

    def save_transcript(self, transcript: Transcript) -> None:
        values = {
            "engine": transcript.engine,
            "language": transcript.language,
            "segments": [seg.model_dump(mode="json") for seg in transcript.segments],
            "text": transcript.text,
            "created_at": transcript.created_at,
        }
        with self.db.session() as s:
            row = s.get(TranscriptRow, transcript.recording_id)
            if row is None:
                s.add(TranscriptRow(recording_id=transcript.recording_id, **values))
            else:
                for k, v in values.items():
                    setattr(row, k, v)

    def get_transcript(self, recording_id: str) -> Transcript | None:
        with self.db.session() as s:
            row = s.get(TranscriptRow, recording_id)
            if row is None:
                return None
            return Transcript(
                recording_id=row.recording_id,
                engine=row.engine,
                language=row.language,
                segments=row.segments,  # type: ignore[arg-type]
                created_at=assume_utc(row.created_at),
            )

    # ---------------------------------------------------------------- deliveries

    def record_delivery(self, delivery: Delivery) -> Delivery:
        """Insert or update the delivery with this idempotency key (one row per external effect)."""
        with self.db.session() as s:
            row = s.scalars(
                select(DeliveryRow).where(DeliveryRow.idempotency_key == delivery.idempotency_key)
            ).first()
            values = delivery.model_dump(mode="python", exclude={"id", "created_at"})
            values["status"] = delivery.status.value
            values["updated_at"] = utcnow()
            if row is None:
                s.add(DeliveryRow(id=delivery.id, created_at=delivery.created_at, **values))
                return delivery
            for k, v in values.items():
                setattr(row, k, v)
            return delivery.model_copy(update={"id": row.id})

    def get_delivery(self, key_or_id: str) -> Delivery | None:
        with self.db.session() as s:
            row = s.scalars(
                select(DeliveryRow).where(
                    or_(DeliveryRow.id == key_or_id, DeliveryRow.idempotency_key == key_or_id)
                )
            ).first()
            return self._delivery(row) if row else None

    def list_deliveries(
        self,
        *,
        subject_id: str | None = None,
        status: DeliveryStatus | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        q = select(DeliveryRow).order_by(DeliveryRow.updated_at.desc())
        if subject_id:
            q = q.where(DeliveryRow.subject_id == subject_id)
        if status:
            q = q.where(DeliveryRow.status == status.value)
        with self.db.session() as s:
            return [self._delivery(r) for r in s.scalars(q.limit(limit))]

    def count_deliveries_by_status(self) -> dict[str, int]:
        with self.db.session() as s:
            rows = s.execute(
                select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
            ).all()
        return {str(status): int(n) for status, n in rows}

    def mark_deliveries_succeeded(self, keys: Sequence[str]) -> None:
        """Failed deliveries whose effect happened after all (an archive run that uploaded
        them later): clear the failure so `deliveries list --failed` tells the truth."""
        with self.db.session() as s:
            s.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.idempotency_key.in_(list(keys)),
                    DeliveryRow.status == DeliveryStatus.failed.value,
                )
                .values(status=DeliveryStatus.succeeded.value, error="", updated_at=utcnow())
            )

    @staticmethod
    def _delivery(row: DeliveryRow) -> Delivery:
        return Delivery(
            id=row.id,
            subject_kind=row.subject_kind,
            subject_id=row.subject_id,
            connector=row.connector,
            action=row.action,
            idempotency_key=row.idempotency_key,
            attempt=row.attempt,
            status=row.status,  # type: ignore[arg-type]
            external_id=row.external_id,
            error=row.error,
            created_at=assume_utc(row.created_at),
            updated_at=assume_utc(row.updated_at),
        )

    # ---------------------------------------------------------------- settings documents

    def get_document(self, key: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.get(SettingRow, key)
            return dict(row.value) if row else None

    def put_document(self, key: str, value: dict[str, Any]) -> None:
        with self.db.session() as s:
            row = s.get(SettingRow, key)
            if row is None:
                s.add(SettingRow(key=key, value=value, updated_at=utcnow()))
            else:
                row.value = value
                row.updated_at = utcnow()

    def account(self) -> AccountSettings:
        doc = self.get_document("account")
        if doc is None:
            acct = AccountSettings()
            self.put_document("account", acct.model_dump(mode="json"))
            return acct
        return AccountSettings.model_validate(doc, context={"stored": True})

    def save_account(self, account: AccountSettings) -> None:
        self.put_document("account", account.model_dump(mode="json"))

    def recordings_by_ids(self, ids: Sequence[str]) -> list[Recording]:
        with self.db.session() as s:
            rows = s.scalars(select(RecordingRow).where(RecordingRow.id.in_(list(ids))))
            return [recording_from_row(r) for r in rows]
