"""Catalog operations on SQLite and PostgreSQL: durability order, compare-and-set transitions,
crash hand-back, deliveries, settings documents."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from catalog.models import (
    Delivery,
    DeliveryStatus,
    Recording,
    RecordingStatus,
    Speaker,
    Transcript,
    TranscriptSegment,
    Word,
    utcnow,
)
from catalog.tables import WorkerRow


def _wav(tmp_path: Path) -> Path:
    import numpy as np

    from catalog.audio import Audio, write_wav

    p = tmp_path / "x.wav"
    write_wav(p, Audio(np.zeros((800, 2), dtype=np.int16), 8000))
    return p


def test_add_recording_stores_file_then_row(any_catalog, tmp_path):
    rec = any_catalog.add_recording(
        Recording(from_number="+1", to_number="+2"), audio=_wav(tmp_path)
    )
    got = any_catalog.get_recording(rec.id)
    assert got is not None and got.status is RecordingStatus.captured
    assert any_catalog.store.exists(got.file_key)
    assert got.file_size == any_catalog.store.local_path(got.file_key).stat().st_size
    assert len(got.sha256) == 64
    assert any_catalog.get_recording(rec.id[:8]).id == rec.id  # unique prefix lookup


def test_claim_is_exclusive_and_complete_needs_the_claim(any_catalog):
    rec = any_catalog.add_recording(Recording())
    assert [c.id for c in any_catalog.claim_recordings("worker-a", 10)] == [rec.id]
    assert any_catalog.claim_recordings("worker-b", 10) == [], "claimed twice"
    assert not any_catalog.attach_run(rec.id, 0, "worker-b", "run-2"), "run of a non-holder"
    assert any_catalog.attach_run(rec.id, 0, "worker-a", "run-1")
    assert any_catalog.get_recording(rec.id).flow_run_id == "run-1"
    assert not any_catalog.claim(rec.id, 0, "worker-b", "run-1"), "two workers hold one recording"
    assert not any_catalog.complete(rec.id, 0, "worker-b")
    assert any_catalog.complete(rec.id, 0, "worker-a")
    assert not any_catalog.complete(rec.id, 0, "worker-a"), "completed twice"
    assert any_catalog.get_recording(rec.id).status is RecordingStatus.processed


def test_orphaned_claim_is_handed_out_again_under_a_new_attempt(any_catalog):
    rec = any_catalog.add_recording(Recording())
    any_catalog.heartbeat("dead")
    any_catalog.heartbeat("alive")
    assert any_catalog.claim(rec.id, 0, "dead", "run-1")
    with any_catalog.db.session() as s:
        s.get(WorkerRow, "dead").heartbeat_at = utcnow() - timedelta(seconds=120)
    orphans = any_catalog.orphaned_claims(lease_seconds=30)
    assert [o.id for o in orphans] == [rec.id]
    assert any_catalog.requeue(rec.id, from_statuses={RecordingStatus.processing}) == 1
    again = any_catalog.get_recording(rec.id)
    assert again.status is RecordingStatus.captured and again.attempt == 1
    # the dead worker's late completion must not count
    assert not any_catalog.complete(rec.id, 0, "dead")
    assert any_catalog.claim(rec.id, 1, "alive", "run-2")
    assert any_catalog.complete(rec.id, 1, "alive")


def test_requeue_gives_up_after_max_attempts(any_catalog):
    rec = any_catalog.add_recording(Recording())
    for attempt in range(4):
        assert any_catalog.claim(rec.id, attempt, "w", "r")
        assert (
            any_catalog.requeue(rec.id, from_statuses={RecordingStatus.processing}) == attempt + 1
        )
    assert any_catalog.claim(rec.id, 4, "w", "r")
    assert any_catalog.requeue(rec.id, from_statuses={RecordingStatus.processing}) is None
    final = any_catalog.get_recording(rec.id)
    assert final.status is RecordingStatus.failed and "gave up" in final.error


def test_transcript_round_trip(any_catalog):
    rec = any_catalog.add_recording(Recording())
    t = Transcript(
        recording_id=rec.id,
        engine="test",
        segments=[
            TranscriptSegment(
                speaker=Speaker.callee,
                channel=1,
                start=1.0,
                end=2.0,
                text="hello",
                words=[Word(word="hello", start=1.0, end=1.5)],
            ),
        ],
    )
    any_catalog.save_transcript(t)
    any_catalog.save_transcript(t)  # idempotent
    got = any_catalog.get_transcript(rec.id)
    assert got.segments == t.segments and got.text == "hello"


def test_delivery_upsert_by_idempotency_key(any_catalog):
    d = Delivery(subject_id="r1", connector="slack", idempotency_key="r1:slack")
    any_catalog.record_delivery(d)
    any_catalog.record_delivery(
        d.model_copy(
            update={"attempt": 2, "status": DeliveryStatus.succeeded, "external_id": "ts1"}
        )
    )
    rows = any_catalog.list_deliveries(subject_id="r1")
    assert len(rows) == 1 and rows[0].attempt == 2 and rows[0].external_id == "ts1"
    assert any_catalog.list_deliveries(status=DeliveryStatus.failed) == []


def test_account_settings_document(any_catalog):
    acct = any_catalog.account()
    acct.name = "Acme"
    any_catalog.save_account(acct)
    assert any_catalog.account().name == "Acme"
    assert any_catalog.account().account_guid == acct.account_guid


def test_migrations_are_idempotent(any_catalog):
    from catalog.db import migrate

    migrate(any_catalog.db.engine)
    migrate(any_catalog.db.engine)
    assert any_catalog.count_by_status() == {}
