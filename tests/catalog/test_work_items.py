"""The one work-item state machine (catalog.work_items), for recordings AND SMS, on SQLite and
PostgreSQL: claim first (exclusive, also under concurrent workers), only the holder attaches a run
and completes, one lease rule (worker heartbeat), release, requeue, re-run on demand."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from catalog.models import Recording, utcnow
from catalog.repository import RECORDINGS
from catalog.sms import SMS_QUEUE, get_sms, ingest_sms
from catalog.tables import WorkerRow
from catalog.work_items import HandBack


def _new_item(catalog: Any, kind: str) -> str:
    if kind == "recording":
        return str(catalog.add_recording(Recording()).id)
    sms = ingest_sms(
        catalog,
        from_number="+447700900001",
        to_number="+447700900002",
        text=f"hello {utcnow().timestamp()}",
        received_at=utcnow(),
    )
    return sms.id


def _status(catalog: Any, kind: str, item_id: str) -> tuple[str, int, str | None]:
    if kind == "recording":
        r = catalog.get_recording(item_id)
        return r.status.value, r.attempt, r.flow_run_id
    s = get_sms(catalog, item_id)
    return s.status.value, s.attempt, s.flow_run_id


QUEUES = {"recording": RECORDINGS, "sms": SMS_QUEUE}


@pytest.fixture(params=["recording", "sms"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_claim_attach_complete_only_by_the_holder(any_catalog, kind):
    q, db = QUEUES[kind], any_catalog.db
    item = _new_item(any_catalog, kind)
    claims = q.claim_next(db, "w-a", 10)
    assert [(c.id, c.attempt) for c in claims] == [(item, 0)]
    assert q.claim_next(db, "w-b", 10) == []
    assert not q.attach_run(db, item, 0, "w-b", "run-b")
    assert q.attach_run(db, item, 0, "w-a", "run-a")
    assert not q.complete(db, item, 0, "w-b")
    assert q.complete(db, item, 0, "w-a")
    assert not q.complete(db, item, 0, "w-a"), "completed twice"
    assert _status(any_catalog, kind, item) == ("processed", 0, "run-a")


def test_concurrent_workers_claim_each_item_once(any_catalog, kind):
    q, db = QUEUES[kind], any_catalog.db
    items = {_new_item(any_catalog, kind) for _ in range(30)}
    got: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        barrier.wait()
        mine: list[str] = []
        while claims := q.claim_next(db, name, 3):
            mine += [c.id for c in claims]
        got[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_claims = [i for mine in got.values() for i in mine]
    assert sorted(all_claims) == sorted(items), "every item claimed exactly once"


def test_lease_expiry_hands_out_again_and_keeps_the_lost_run(any_catalog, kind):
    q, db = QUEUES[kind], any_catalog.db
    item = _new_item(any_catalog, kind)
    any_catalog.heartbeat("dead")
    any_catalog.heartbeat("alive")
    (_claim,) = q.claim_next(db, "dead", 1)
    assert q.attach_run(db, item, 0, "dead", "lost-run")
    assert q.orphaned(db, lease_seconds=30) == [], "a live worker's claim is not orphaned"
    with db.session() as s:
        s.get(WorkerRow, "dead").heartbeat_at = utcnow() - timedelta(seconds=120)
    assert q.reclaim_orphans(db, lease_seconds=30) == [item]
    (again,) = q.claim_next(db, "alive", 1)
    assert (again.attempt, again.previous_run) == (1, "lost-run")
    assert not q.complete(db, item, 0, "dead"), "the dead worker's late finish must not count"
    assert q.attach_run(db, item, 1, "alive", "new-run")
    assert q.complete(db, item, 1, "alive")
    assert _status(any_catalog, kind, item) == ("processed", 1, "new-run")


def test_release_gives_the_claim_back_under_the_same_attempt(any_catalog, kind):
    q, db = QUEUES[kind], any_catalog.db
    item = _new_item(any_catalog, kind)
    q.claim_next(db, "w", 1)
    assert not q.release(db, item, 0, "other")
    assert q.release(db, item, 0, "w")
    assert [(c.id, c.attempt) for c in q.claim_next(db, "w2", 1)] == [(item, 0)]


def test_hand_back_after_a_transient_failure_next_attempt_then_gives_up(any_catalog, kind):
    """The holder met the platform going away mid-run: ready again under the next attempt,
    the run kept for clean-up; only the holder can; after max_attempts it is failed, visibly."""
    q, db = QUEUES[kind], any_catalog.db
    item = _new_item(any_catalog, kind)
    (claim,) = q.claim_next(db, "w-a", 1)
    assert q.attach_run(db, item, 0, "w-a", "run-0")
    assert q.hand_back(db, item, 0, "w-b", "ConnectError: refused") is HandBack.not_held
    assert q.hand_back(db, item, 0, "w-a", "ConnectError: refused") is HandBack.requeued
    assert _status(any_catalog, kind, item) == (q.ready.value, 1, "run-0")
    assert q.hand_back(db, item, 0, "w-a", "again") is HandBack.not_held  # handed back once
    for attempt in range(1, q.max_attempts):
        (claim,) = q.claim_next(db, "w-a", 1)
        assert (claim.attempt, claim.previous_run) == (attempt, "run-0")
        gave_up = attempt == q.max_attempts - 1
        expected = HandBack.gave_up if gave_up else HandBack.requeued
        assert q.hand_back(db, item, attempt, "w-a", "ConnectError: refused") is expected
    assert _status(any_catalog, kind, item)[:2] == ("failed", q.max_attempts)
    assert q.claim_next(db, "w-a", 1) == []


def test_rerun_on_demand_refused_while_held_then_new_attempt(any_catalog, kind):
    q, db = QUEUES[kind], any_catalog.db
    item = _new_item(any_catalog, kind)
    q.claim_next(db, "w", 1)
    assert q.claim_rerun(db, item, "ui") is None, "refused while a worker holds it"
    assert q.complete(db, item, 0, "w")
    rerun = q.claim_rerun(db, item, "ui")
    assert rerun is not None and rerun.attempt == 1
    assert _status(any_catalog, kind, item)[:2] == ("processing", 1)
    assert q.fail(db, item, 1, "boom", "ui")
    assert _status(any_catalog, kind, item)[:2] == ("failed", 1)
    assert q.claim_rerun(db, item, "ui").attempt == 2, "a failed item can be re-run"


def test_rows_left_dispatched_by_v1_are_claimed(any_catalog, kind):
    q, db = QUEUES[kind], any_catalog.db
    item = _new_item(any_catalog, kind)
    with db.session() as s:
        s.get(q.table, item).status = "dispatched"
    assert [c.id for c in q.claim_next(db, "w", 5)] == [item]
