"""The archive engine end to end against moto's S3 server: Focus layout, incremental re-runs,
dry run, interruption and resume, secondary destination, move mode, failures as deliveries."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from catalog import archive as ledger
from catalog.archive import ArchiveDestination
from catalog.models import DeliveryStatus
from catalog.repository import Catalog
from connectors.s3 import S3Config, S3Connector
from services.archive import run_archive

FOCUS = re.compile(
    r"^MP3/Daily/\d{4}/\d{2}/\d{2}/\d{14}_\+447700900128_\+441632960560_[^_/]+_[^_/]+\.mp3$"
)


def s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def keys(endpoint: str, bucket: str) -> list[str]:
    pages = s3(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def resolver(endpoint: str, **buckets: str):  # type: ignore[no-untyped-def]
    def resolve(name: str) -> S3Connector:
        return S3Connector(
            S3Config(
                bucket=buckets[name.replace("-", "_")],
                endpoint_url=endpoint,
                access_key_id="testing",
                secret_access_key="testing",
            ),
            name=name,
        )

    return resolve


async def test_focus_mp3_then_noop(
    catalog: Catalog, calls, moto_endpoint: str, s3_bucket: str
) -> None:  # type: ignore[no-untyped-def]
    acct = catalog.account()
    acct.name = "Acceptance Test"
    catalog.save_account(acct)
    recs = [calls.add() for _ in range(3)]
    dest = ArchiveDestination(
        name="nightly-s3", connector="s3-archive", layout="focus", formats=["MP3"]
    )
    resolve = resolver(moto_endpoint, s3_archive=s3_bucket)
    seen: list[tuple[int, int]] = []
    rep = await run_archive(catalog, dest, resolve, progress=lambda a, b: seen.append((a, b)))
    assert rep.ok and rep.archived == 3 and rep.uploaded_objects == 3, rep.summary()
    assert seen[-1] == (3, 3)
    got = keys(moto_endpoint, s3_bucket)
    assert len(got) == 3 and all(FOCUS.match(k) for k in got), got
    assert all(recs[0].id in k or recs[1].id in k or recs[2].id in k for k in got)
    assert all("_Acceptance-Test_" in k for k in got)
    body = s3(moto_endpoint).get_object(Bucket=s3_bucket, Key=got[0])["Body"].read()
    assert body[0] == 0xFF and body[1] & 0xE0 == 0xE0
    stats = ledger.ledger_stats(catalog.db, "nightly-s3")
    assert stats["objects"] == 3 and stats["recordings"] == 3 and stats["bytes"] > 0

    again = await run_archive(catalog, dest, resolve)
    assert again.pending == 0 and again.uploaded_objects == 0 and again.ok
    assert keys(moto_endpoint, s3_bucket) == got

    # a new call: only it is archived
    calls.add()
    third = await run_archive(catalog, dest, resolve)
    assert third.pending == 1 and third.uploaded_objects == 1


async def test_dry_run_uploads_nothing(
    catalog: Catalog, calls, moto_endpoint: str, s3_bucket: str
) -> None:  # type: ignore[no-untyped-def]
    calls.add()
    dest = ArchiveDestination(
        name="a", connector="s3-archive", formats=["MP3", "WAV_8_8000_M"], metadata_sidecar=True
    )
    rep = await run_archive(
        catalog, dest, resolver(moto_endpoint, s3_archive=s3_bucket), dry_run=True
    )
    assert rep.pending == 1 and len(rep.planned) == 4
    assert keys(moto_endpoint, s3_bucket) == []


class Interrupting:
    """Wraps a real store and cancels the run after ``after`` uploads, like a killed worker."""

    def __init__(self, inner: S3Connector, after: int, task: list[asyncio.Task[Any]]) -> None:
        self.inner, self.after, self.task, self.puts = inner, after, task, 0

    async def put_object(self, key: str, source: Path, **kw: Any) -> Any:
        if self.puts >= self.after:
            self.task[0].cancel()
            await asyncio.sleep(3600)
        self.puts += 1
        return await self.inner.put_object(key, source, **kw)

    async def head_object(self, key: str) -> Any:
        return await self.inner.head_object(key)

    async def delete_object(self, key: str) -> None:
        await self.inner.delete_object(key)

    async def aclose(self) -> None:
        await self.inner.aclose()


# The cancelled run's upload thread finishes its in-flight object on its own; on a loaded 2-core
# CI box its ledger write landed after the 5 s wait once in four full runs (4 objects, not 5).
# The expectation stays; a run that raced is run again.
@pytest.mark.flaky(reruns=2)
async def test_interrupted_run_resumes(
    catalog: Catalog, calls, moto_endpoint: str, s3_bucket: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import services.archive as fa

    monkeypatch.setattr(fa, "_as_store", lambda conn, name: conn)
    for _ in range(6):
        calls.add()
    dest = ArchiveDestination(
        name="r", connector="s3-archive", formats=["MP3", "WAV_16_8000_S"], concurrency=1
    )
    real = resolver(moto_endpoint, s3_archive=s3_bucket)
    task: list[asyncio.Task[Any]] = []
    wrapped = Interrupting(real("s3-archive"), after=5, task=task)
    task.append(asyncio.create_task(run_archive(catalog, dest, lambda name: wrapped)))
    with pytest.raises(asyncio.CancelledError):
        await task[0]
    # the run returns at once; its upload thread winds down on its own
    import threading

    for _ in range(100):
        if not any(t.name.startswith("archive-r") for t in threading.enumerate()):
            break
        await asyncio.sleep(0.05)
    # what was verified before the interruption is in the ledger: 2 recordings, and the
    # third recording's first object
    partial = ledger.ledger_stats(catalog.db, "r")
    assert partial["objects"] == 5 and partial["recordings"] == 2
    rep = await run_archive(catalog, dest, real)
    assert rep.ok and rep.pending == 4
    assert rep.uploaded_objects == 12 - 5 and rep.skipped_objects == 1
    assert len(keys(moto_endpoint, s3_bucket)) == 12
    assert ledger.ledger_stats(catalog.db, "r") == {
        **ledger.ledger_stats(catalog.db, "r"),
        "objects": 12,
        "recordings": 6,
    }


async def test_plan_change_uploads_only_whats_new(
    catalog: Catalog, calls, moto_endpoint: str, s3_bucket: str
) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        calls.add()
    resolve = resolver(moto_endpoint, s3_archive=s3_bucket)
    one = ArchiveDestination(name="p", connector="s3-archive", formats=["MP3"])
    assert (await run_archive(catalog, one, resolve)).uploaded_objects == 2
    two = one.model_copy(update={"formats": ["MP3", "WAV_8_8000_M"], "metadata_sidecar": True})
    rep = await run_archive(catalog, two, resolve)
    assert rep.pending == 2 and rep.uploaded_objects == 6 and rep.skipped_objects == 2


async def test_secondary_and_move(catalog: Catalog, calls, moto_endpoint: str) -> None:  # type: ignore[no-untyped-def]
    client = s3(moto_endpoint)
    for b in ("prim-move", "dr-move"):
        client.create_bucket(Bucket=b)
    kept, moved = calls.add(), calls.add()
    ledger.add_hold(catalog.db, kept.id, reason="litigation", by="legal@example.com")
    dest = ArchiveDestination(
        name="m", connector="s3-archive", secondary="s3-dr", formats=["WAV_16_8000_S"], mode="move"
    )
    rep = await run_archive(
        catalog, dest, resolver(moto_endpoint, s3_archive="prim-move", s3_dr="dr-move")
    )
    assert rep.ok and rep.archived == 2 and rep.moved == 1, rep.summary()
    assert len(keys(moto_endpoint, "prim-move")) == 2 and keys(moto_endpoint, "dr-move") == keys(
        moto_endpoint, "prim-move"
    )
    # the archived bytes are the original recording's bytes
    body = client.get_object(
        Bucket="dr-move", Key=next(k for k in keys(moto_endpoint, "dr-move") if moved.id in k)
    )["Body"].read()
    import hashlib

    assert hashlib.sha256(body).hexdigest() == moved.sha256
    after = catalog.get_recording(moved.id)
    assert (
        after is not None and after.file_key == "" and after.metadata["archive"]["archive"] == "m"
    )
    assert not catalog.store.exists(moved.file_key)
    assert catalog.store.exists(kept.file_key)  # held: never removed
    log = ledger.deletion_log(catalog.db)
    assert [(r.recording_id, r.what) for r in log] == [(moved.id, "local_copy")]
    roles = {(e.role, e.connector) for e in ledger.archive_objects(catalog.db, moved.id)}
    assert roles == {("primary", "s3-archive"), ("secondary", "s3-dr")}


async def test_unreachable_store_gives_failed_deliveries(
    catalog: Catalog, calls, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import services.archive as fa
    from tests.archive.archive_support import free_port

    monkeypatch.setattr(fa, "UPLOAD_RETRY", fa.RetryPolicy(attempts=1))
    rec = calls.add()
    dest = ArchiveDestination(name="down", connector="s3-archive")
    rep = await run_archive(
        catalog, dest, resolver(f"http://127.0.0.1:{free_port()}", s3_archive="b")
    )
    assert not rep.ok and rec.id in rep.failed and "cannot reach" in rep.failed[rec.id]
    failed = catalog.list_deliveries(status=DeliveryStatus.failed)
    assert [(d.subject_id, d.action) for d in failed] == [(rec.id, "archive:down")]
    assert ledger.ledger_stats(catalog.db, "down")["recordings"] == 0


async def test_unknown_connector_is_a_clear_error(catalog: Catalog, calls) -> None:  # type: ignore[no-untyped-def]
    calls.add()
    dest = ArchiveDestination(name="x", connector="nope")

    def resolve(name: str) -> Any:
        raise KeyError(name)

    rep = await run_archive(catalog, dest, resolve)
    assert "not configured" in rep.fatal
