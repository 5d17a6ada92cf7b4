"""The archive and retention engine that the Prefect flows (``flows.archive``) and the CLI run.

``run_archive`` and ``run_retention`` are plain async functions over a catalog and connector
instances, so `recflow archive run` works with no Prefect server at all; the Prefect flows are
thin shells that open the catalog, resolve connectors and call them, one scheduled deployment
schedule per archive destination.

Why uploads are not one Prefect task each: a task run costs tens of milliseconds of API
traffic, which would cap an archive of thousands of small files far below what the storage
takes (the benchmark asks for ≥ 0.9 of plain boto3). Retries per upload live here instead
(retriable errors only, honouring Retry-After), and the ledger is the durable record.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from catalog import archive as ledger
from catalog.archive import ArchiveDestination, LedgerEntry, RetentionDecision
from catalog.manifests import manifest_sidecar
from catalog.models import Delivery, DeliveryStatus, Recording, utcnow
from catalog.repository import Catalog
from connectors.base import (
    AuthError,
    ConfigError,
    Connector,
    ConnectorError,
    ObjectStore,
    PermanentError,
)
from connectors.object_storage import VerificationError
from services.archive_layout import (
    AudioFormat,
    PlannedObject,
    PlanOptions,
    passthrough,
    plan_recording,
    render_artifact,
)
from services.retry import RetryPolicy, call_with_retries_blocking

log = logging.getLogger("recflow.archive")

Resolver = Callable[[str], Connector]
Progress = Callable[[int, int], None]  # (recordings finished, recordings total)
# the orchestrator's copies of deleted recordings (Prefect's flow runs): given the ids retention
# deleted, remove their runs and return how many went. The shell that runs retention passes it
# (services import no orchestrator).
RunForgetter = Callable[[list[str]], int]

# the one retry policy, tuned for uploads: a few quick tries (the ledger makes a later run finish)
UPLOAD_RETRY = RetryPolicy(attempts=3, wait_initial=0.5, wait_max=30.0, wait_jitter=0.25)
FLUSH_EVERY = 50  # recordings per ledger commit; a crash re-uploads at most this many
FLUSH_SECONDS = 2.0


class ArchiveError(Exception):
    """The archive cannot run at all (unknown destination, wrong credentials, bad config)."""


@dataclass
class ArchiveReport:
    archive: str
    dry_run: bool = False
    pending: int = 0
    archived: int = 0
    moved: int = 0
    uploaded_objects: int = 0
    skipped_objects: int = 0
    uploaded_bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # recording id -> error
    fatal: str = ""
    seconds: float = 0.0
    planned: list[tuple[str, str, str]] = field(default_factory=list)  # dry run: (rec, role, key)

    @property
    def ok(self) -> bool:
        return not self.fatal and not self.failed

    def summary(self) -> str:
        mb = self.uploaded_bytes / 1e6
        head = f"archive {self.archive}: "
        if not self.pending and not self.fatal:
            return head + f"nothing new to archive ({self.seconds:.2f}s)"
        if self.dry_run:
            return (
                head + f"dry run, {self.pending} recording(s), {len(self.planned)} object(s) to put"
            )
        text = (
            f"{self.archived}/{self.pending} recording(s) archived, {self.uploaded_objects} "
            f"object(s) uploaded ({mb:.2f} MB), {self.skipped_objects} already there"
        )
        if self.moved:
            text += f", {self.moved} local copies removed (move)"
        if self.failed:
            text += f", {len(self.failed)} failed"
        if self.fatal:
            text += f"; stopped: {self.fatal}"
        return head + text + f" in {self.seconds:.2f}s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "dry_run": self.dry_run,
            "pending": self.pending,
            "archived": self.archived,
            "moved": self.moved,
            "uploaded_objects": self.uploaded_objects,
            "skipped_objects": self.skipped_objects,
            "uploaded_bytes": self.uploaded_bytes,
            "failed": self.failed,
            "fatal": self.fatal,
            "seconds": round(self.seconds, 3),
        }


def plan_options(dest: ArchiveDestination) -> PlanOptions:
    return PlanOptions(
        layout=dest.layout,
        formats=tuple(AudioFormat(f) for f in dest.formats),
        timezone=dest.timezone,
        metadata_sidecar=dest.metadata_sidecar,
        transcript=dest.transcript,
    )


def plan_signature(dest: ArchiveDestination, secondary_connector: str | None) -> str:
    base = plan_options(dest).signature()
    return f"{base}+{secondary_connector}"[:32] if secondary_connector else base


def secondary_connector(catalog: Catalog, dest: ArchiveDestination) -> str | None:
    """``secondary`` names a connector, or another archive entry (then that entry's connector)."""
    if not dest.secondary:
        return None
    other = ledger.get_destination(catalog, dest.secondary)
    return other.connector if other is not None else dest.secondary


def _as_store(conn: Connector, name: str) -> Any:
    if not isinstance(conn, ObjectStore):
        raise ArchiveError(f"connector {name!r} ({conn.kind}) cannot store objects")
    return conn


class _Uploader:
    """Puts objects from worker threads. Connectors with a blocking ``put_object_blocking``
    (S3, Azure, FTP: their SDKs are blocking anyway) are called directly in the thread; async
    ones (SFTP) run on the event loop and the thread waits for them. Either way a recording's
    whole pipeline stays in one thread, with no per-file hops through the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        self.loop = loop
        self.stop = stop
        self.lock = threading.Lock()
        self.waiting: set[concurrent.futures.Future[Any]] = set()

    def _put_once(
        self, store: Any, key: str, path: Path, content_type: str, meta: dict[str, str]
    ) -> Any:
        blocking = getattr(store, "put_object_blocking", None)
        if blocking is not None:
            return blocking(key, path, content_type=content_type, metadata=meta)
        fut = asyncio.run_coroutine_threadsafe(
            store.put_object(key, path, content_type=content_type, metadata=meta), self.loop
        )
        with self.lock:
            self.waiting.add(fut)
        try:
            return fut.result()
        finally:
            with self.lock:
                self.waiting.discard(fut)

    def put_verified(
        self, store: Any, key: str, path: Path, content_type: str, meta: dict[str, str]
    ) -> Any:
        """Upload with retries for retriable errors; the connector verifies (checksum/size)
        and raises VerificationError on a mismatch, retried like a dropped connection."""

        def stop_if_cancelled(_attempt: int) -> None:
            if self.stop.is_set():
                raise concurrent.futures.CancelledError()

        info = call_with_retries_blocking(
            UPLOAD_RETRY,
            lambda: self._put_once(store, key, path, content_type, meta),
            on_attempt=stop_if_cancelled,
        )
        size = path.stat().st_size
        if info.size != size:
            raise VerificationError(f"{key}: stored {info.size} bytes, sent {size}")
        return info

    def cancel(self) -> None:
        self.stop.set()
        with self.lock:
            for fut in self.waiting:
                fut.cancel()


class _Batch:
    """Ledger rows and finished recordings waiting for one commit."""

    def __init__(self, catalog: Catalog, archive: str, plan: str) -> None:
        self.catalog = catalog
        self.archive = archive
        self.plan = plan
        self.entries: list[LedgerEntry] = []
        self.done: list[tuple[str, bool]] = []
        self.last = time.monotonic()

    def due(self) -> bool:
        return len(self.done) >= FLUSH_EVERY or time.monotonic() - self.last >= FLUSH_SECONDS

    def flush(self) -> None:
        if self.entries:
            ledger.record_objects(self.catalog.db, self.entries)
        if self.done:
            ledger.mark_done(self.catalog.db, self.archive, self.done, self.plan)
            _clear_failed_deliveries(self.catalog, self.archive, [rid for rid, _ in self.done])
        self.entries, self.done = [], []
        self.last = time.monotonic()


def _delivery_key(archive: str, recording_id: str) -> str:
    return f"archive:{archive}:{recording_id}"


def _record_failure(catalog: Catalog, archive: str, connector: str, rid: str, err: str) -> None:
    """A failed archive of one recording is a failed delivery: visible in
    `recflow deliveries list --failed` and the portal, next to the other connectors."""
    catalog.record_delivery(
        Delivery(
            subject_kind="recording",
            subject_id=rid,
            connector=connector,
            action=f"archive:{archive}",
            idempotency_key=_delivery_key(archive, rid),
            status=DeliveryStatus.failed,
            error=err[:2000],
        )
    )


def _clear_failed_deliveries(catalog: Catalog, archive: str, ids: list[str]) -> None:
    catalog.mark_deliveries_succeeded([_delivery_key(archive, rid) for rid in ids])


async def run_archive(
    catalog: Catalog,
    dest: ArchiveDestination,
    resolve: Resolver,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    limit: int | None = None,
    actor: str = "archive",
) -> ArchiveReport:
    """Archive every recording not yet fully archived by ``dest``; resumable and idempotent.

    For each recording: plan its objects, skip those the ledger already holds under the same
    key, convert and upload the rest to the primary (and secondary) store, each verified by the
    connector; once every object is verified the recording is marked done, and in ``move``
    mode its local audio is deleted unless a hold or the legal hold protects it.
    """
    t0 = time.perf_counter()
    report = ArchiveReport(archive=dest.name, dry_run=dry_run)
    sec_name = secondary_connector(catalog, dest)
    plan = plan_signature(dest, sec_name)
    opts = plan_options(dest)
    pending = ledger.pending_recordings(
        catalog.db, dest.name, plan, need_transcript=dest.transcript, limit=limit
    )
    report.pending = len(pending)
    if dest.sms_csv and not dry_run:
        await _deliver_sms_csvs(catalog, dest, resolve, report)
    if not pending:
        report.seconds = time.perf_counter() - t0
        return report
    account = catalog.account()
    targets: list[tuple[str, str]] = [("primary", dest.connector)]
    if sec_name:
        targets.append(("secondary", sec_name))
    if dry_run:
        for rec in pending:
            for obj in plan_recording(rec, opts, account=account.name):
                for role, _ in targets:
                    report.planned.append((rec.id, role, obj.key))
        report.seconds = time.perf_counter() - t0
        return report

    stores: dict[str, Any] = {}
    try:
        for role, cname in targets:
            try:
                stores[role] = _as_store(resolve(cname), cname)
            except ArchiveError:
                raise
            except (KeyError, LookupError) as e:
                raise ArchiveError(f"connector {cname!r} is not configured: {e}") from None
            except Exception as e:  # undecryptable secrets, a stored config that no longer fits
                raise ArchiveError(f"connector {cname!r} cannot be built: {e}") from None
        batch = _Batch(catalog, dest.name, plan)
        stop = threading.Event()
        uploader = _Uploader(asyncio.get_running_loop(), stop)
        lock = uploader.lock
        finished = 0
        workdir = Path(tempfile.mkdtemp(prefix=f"recflow-archive-{dest.name}-"))
        protected: set[str] = set()
        if dest.mode == "move":
            protected = ledger.held_ids(catalog.db, [r.id for r in pending])
            if account.legal_hold:
                protected = {r.id for r in pending}

        def one(
            rec: Recording,
            known: dict[tuple[str, str, str], LedgerEntry],
            prep: Prepared | Exception,
        ) -> None:
            """One recording, start to finish, in a worker thread."""
            nonlocal finished
            if stop.is_set():
                return
            try:
                if isinstance(prep, Exception):
                    raise prep
                entries, moved = _archive_one(
                    catalog,
                    dest,
                    rec,
                    opts,
                    account.name,
                    targets,
                    stores,
                    known,
                    report,
                    workdir,
                    prep,
                    uploader,
                    move=dest.mode == "move" and rec.id not in protected,
                    actor=actor,
                )
                with lock:
                    batch.entries.extend(entries)
                    batch.done.append((rec.id, moved))
                    report.archived += 1
                    report.moved += int(moved)
            except (AuthError, ConfigError) as e:
                # every other upload would fail the same way: stop, say why once
                with lock:
                    report.fatal = report.fatal or f"{type(e).__name__}: {e}"
                    report.failed[rec.id] = str(e)
                stop.set()
            except (ConnectorError, OSError, ValueError) as e:
                with lock:
                    report.failed[rec.id] = f"{type(e).__name__}: {e}"
                log.warning("archive %s: recording %s failed: %s", dest.name, rec.id, e)
            finally:
                with lock:
                    finished += 1
                    if progress:
                        progress(finished, len(pending))
                    if batch.due():
                        batch.flush()

        loop = asyncio.get_running_loop()
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=dest.concurrency, thread_name_prefix=f"archive-{dest.name}"
        )
        try:
            for i in range(0, len(pending), 500):
                chunk = pending[i : i + 500]
                known = await asyncio.to_thread(
                    ledger.ledger_for, catalog.db, dest.name, [r.id for r in chunk]
                )
                prepared = await asyncio.to_thread(
                    _prepare_chunk, catalog, chunk, opts, account.name
                )
                await asyncio.gather(
                    *(loop.run_in_executor(pool, one, r, known, prepared[r.id]) for r in chunk)
                )
                if stop.is_set():
                    break
        finally:
            # also on cancellation: stop the threads, keep what was verified (a resumed run
            # skips it), never block the loop waiting for an upload in flight
            uploader.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            with lock:
                batch.flush()
            shutil.rmtree(workdir, ignore_errors=True)
        for rid, err in report.failed.items():
            _record_failure(catalog, dest.name, dest.connector, rid, err)
    except ArchiveError as e:
        report.fatal = str(e)
    finally:
        for store in stores.values():
            with contextlib.suppress(Exception):
                await store.aclose()
        report.seconds = time.perf_counter() - t0
    return report


async def _deliver_sms_csvs(
    catalog: Catalog, dest: ArchiveDestination, resolve: Resolver, report: ArchiveReport
) -> None:
    """The monthly SMS CSVs this destination asks for (``sms_csv``); see services.sms_archive."""
    from services.sms_archive import deliver_sms_csvs

    try:
        store = _as_store(resolve(dest.connector), dest.connector)
    except Exception as e:
        report.failed["sms-csv"] = f"{type(e).__name__}: {e}"
        return
    try:
        sms = await deliver_sms_csvs(catalog, dest.name, store)
    finally:
        with contextlib.suppress(Exception):
            await store.aclose()
    report.uploaded_objects += len(sms.uploaded)
    report.uploaded_bytes += sms.bytes
    report.failed.update(sms.failed)


def _archive_one(
    catalog: Catalog,
    dest: ArchiveDestination,
    rec: Recording,
    opts: PlanOptions,
    account: str,
    targets: list[tuple[str, str]],
    stores: dict[str, Any],
    known: dict[tuple[str, str, str], LedgerEntry],
    report: ArchiveReport,
    workdir: Path,
    prepared: Prepared,
    uploader: _Uploader,
    *,
    move: bool,
    actor: str,
) -> tuple[list[LedgerEntry], bool]:
    """Every object of one recording at every target; returns the verified ledger entries
    and whether the local copy was removed (move)."""
    objects, source, same = prepared
    audio_key = {o.fmt: o.key for o in objects if o.artifact.value == "audio"}
    transcript = catalog.get_transcript(rec.id) if opts.transcript else None
    rendered: dict[str, Path] = {}
    meta = {"recording-id": rec.id, "call-id": rec.call_id[:200]}
    entries: list[LedgerEntry] = []
    try:
        for obj in objects:
            for role, cname in targets:
                prev = known.get((rec.id, role, obj.name))
                if prev is not None and prev.key == obj.key:
                    with uploader.lock:
                        report.skipped_objects += 1
                    continue
                path = source if obj.name in same else rendered.get(obj.name)
                if path is None:
                    path = render_artifact(
                        obj,
                        rec,
                        source=source,
                        workdir=workdir,
                        account=account,
                        transcript=transcript,
                        audio_key=audio_key,
                        manifest=manifest_sidecar(catalog, rec.id),  # tamper evidence
                    )
                    rendered[obj.name] = path
                info = uploader.put_verified(stores[role], obj.key, path, obj.content_type, meta)
                now = utcnow()
                entries.append(
                    LedgerEntry(
                        dest.name,
                        role,
                        cname,
                        rec.id,
                        obj.name,
                        obj.key,
                        info.size,
                        info.checksum,
                        now,
                        now,
                    )
                )
                with uploader.lock:
                    report.uploaded_objects += 1
                    report.uploaded_bytes += info.size
    except BaseException:
        # what was verified before the failure still counts: a re-run skips it
        if entries:
            ledger.record_objects(catalog.db, entries)
        raise
    finally:
        for path in rendered.values():
            if path != source and path.parent == workdir:
                path.unlink(missing_ok=True)
    if move:
        ledger.record_objects(catalog.db, entries)  # durable before the local copy goes
        _remove_local_copy(catalog, dest, rec, objects, actor=actor)
        return [], True
    return entries, False


def run_archive_sync(
    catalog: Catalog, dest: ArchiveDestination, resolve: Resolver, **kwargs: Any
) -> ArchiveReport:
    """``run_archive`` in a fresh event loop whose thread pool fits the archive's concurrency
    (asyncio's default pool has cpu+4 threads; conversion and blocking SDK calls need more to
    keep ``concurrency`` uploads in flight). For the CLI and benchmarks."""
    from concurrent.futures import ThreadPoolExecutor

    async def main() -> ArchiveReport:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(
            max_workers=dest.concurrency * 2 + 2, thread_name_prefix="archive"
        )
        loop.set_default_executor(pool)
        return await run_archive(catalog, dest, resolve, **kwargs)

    return asyncio.run(main())


Prepared = tuple[list[PlannedObject], Path, set[str]]


def _prepare_chunk(
    catalog: Catalog, recs: list[Recording], opts: PlanOptions, account: str
) -> dict[str, Prepared | Exception]:
    """Plan a chunk of recordings in one worker-thread hop: keys (templates), the audio file,
    and which objects are the stored file itself. Per-file hops between the event loop and
    threads cost more than the planning under load (GIL hand-offs), so they are batched."""
    out: dict[str, Prepared | Exception] = {}
    for rec in recs:
        try:
            objects = plan_recording(rec, opts, account=account)
            source = catalog.store.local_path(rec.file_key)
            if not source.is_file():
                raise PermanentError(f"audio file {rec.file_key} is missing from the store")
            same = {
                o.name
                for o in objects
                if o.artifact.value == "audio" and passthrough(source, o.fmt)
            }
            out[rec.id] = (objects, source, same)
        except Exception as e:  # reported per recording, like an upload failure
            out[rec.id] = e
    return out


def _remove_local_copy(
    catalog: Catalog,
    dest: ArchiveDestination,
    rec: Recording,
    objects: list[PlannedObject],
    *,
    actor: str,
) -> None:
    """``mode: move``: the archive now holds the verified copy; the local audio goes, and the
    recording remembers where its audio lives so playback can stream from the archive."""
    audio = [o for o in objects if o.artifact.value == "audio"]
    best = next((o for o in audio if o.fmt is AudioFormat.WAV_16_8000_S), audio[0])
    subject = ledger.RetentionSubject(
        recording_id=rec.id,
        started_at=rec.started_at,
        from_number=rec.from_number,
        to_number=rec.to_number,
        direction=rec.direction.value,
        call_id=rec.call_id,
        sha256=rec.sha256,
        file_key=rec.file_key,
    )
    ledger.log_deletion(
        catalog.db,
        subject,
        what="local_copy",
        reason=f"moved to archive {dest.name} ({dest.connector}:{best.key})",
        actor=actor,
    )
    metadata = dict(rec.metadata)
    metadata["archive"] = {
        "archive": dest.name,
        "connector": dest.connector,
        "key": best.key,
        "format": best.fmt.value,
        "local_file_key": rec.file_key,
        "moved_at": utcnow().isoformat(),
    }
    catalog.update_recording(rec.id, file_key="", metadata=metadata)
    catalog.store.delete(rec.file_key)


# ---------------------------------------------------------------- retention


@dataclass
class RetentionReport:
    dry_run: bool
    legal_hold: bool
    decisions: list[RetentionDecision] = field(default_factory=list)
    deleted: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    deleted_ids: list[str] = field(default_factory=list)
    runs_removed: int = 0
    runs_error: str = ""  # why the deleted recordings' flow runs could not be removed

    def count(self, action: str) -> int:
        return sum(1 for d in self.decisions if d.action == action)

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        n = self.count("delete") if self.dry_run else self.deleted
        parts = [f"retention: {verb} {n} recording(s)"]
        for action, label in (
            ("held", "on hold"),
            ("legal_hold", "under legal hold"),
            ("awaiting_archive", "waiting for archive"),
        ):
            if self.count(action):
                parts.append(f"{self.count(action)} expired but {label}")
        if self.errors:
            parts.append(f"{len(self.errors)} failed")
        if self.runs_removed:
            parts.append(f"{self.runs_removed} Prefect flow run(s) removed")
        if self.runs_error:
            parts.append(f"Prefect flow runs not removed: {self.runs_error}")
        return ", ".join(parts) + f" ({self.seconds:.2f}s)"


def retention_report(catalog: Catalog, *, now: datetime | None = None) -> RetentionReport:
    t0 = time.perf_counter()
    policy = ledger.load_policy(catalog)
    legal_hold = catalog.account().legal_hold
    archives = [d.name for d in ledger.load_destinations(catalog) if d.enabled]
    decisions = ledger.retention_decisions(
        catalog.db,
        policy,
        legal_hold=legal_hold,
        now=now,
        archives=archives if policy.require_archived else (),
    )
    rep = RetentionReport(dry_run=True, legal_hold=legal_hold, decisions=decisions)
    rep.seconds = time.perf_counter() - t0
    return rep


def run_retention(
    catalog: Catalog,
    *,
    now: datetime | None = None,
    actor: str = "retention",
    progress: Progress | None = None,
    forget_runs: RunForgetter | None = None,
) -> RetentionReport:
    """Delete every expired recording nothing holds, oldest first, each logged before it goes;
    then ``forget_runs`` removes their flow runs from the orchestrator (a recording deleted here
    must not live on in Prefect's run names, parameters and logs). Its failure is reported, never
    undoes or stops a deletion."""
    rep = retention_report(catalog, now=now)
    rep.dry_run = False
    t0 = time.perf_counter()
    due = [d for d in rep.decisions if d.action == "delete"]
    for i, d in enumerate(due, 1):
        # re-check the holds at the moment of deletion: a hold placed since the report wins
        if catalog.account().legal_hold or ledger.held_ids(catalog.db, [d.subject.recording_id]):
            continue
        try:
            ledger.delete_recording(catalog.db, catalog.store, d, actor=actor)
            rep.deleted += 1
            rep.deleted_ids.append(d.subject.recording_id)
        except Exception as e:  # one undeletable file never stops the nightly run
            rep.errors[d.subject.recording_id] = f"{type(e).__name__}: {e}"
        if progress:
            progress(i, len(due))
    if forget_runs is not None and rep.deleted_ids:
        try:
            rep.runs_removed = forget_runs(rep.deleted_ids)
        except Exception as e:  # Prefect down: the recordings are gone all the same
            rep.runs_error = f"{type(e).__name__}: {e}"[:300]
            log.warning("retention: flow runs of deleted recordings not removed: %s", e)
    rep.seconds += time.perf_counter() - t0
    return rep


# ---------------------------------------------------------------- connectors


def catalog_resolver(catalog: Catalog) -> Resolver:
    """Build configured connectors by name (the `connectors:` section's stored, encrypted
    config); an unknown name raises ConnectorNotFound, a KeyError."""
    from connectors import configured

    return lambda name: configured.load(catalog, name)
