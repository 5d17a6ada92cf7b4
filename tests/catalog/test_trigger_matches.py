"""Catalog operations of keyword triggers: matches, the alert ledger, backfill paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog import trigger_matches as tm
from catalog.models import Recording, Transcript
from catalog.repository import Catalog
from catalog.settings import RecflowSettings


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    return Catalog.open(RecflowSettings(data_dir=tmp_path))


def _match(rule: str, start: float) -> dict:
    return {
        "rule": rule,
        "phrase": "cancel",
        "kind": "phrase",
        "speaker": "caller",
        "start": start,
        "end": start + 0.5,
        "snippet": "I want to cancel",
    }


def test_replace_matches_is_exact(cat: Catalog) -> None:
    tm.replace_matches(cat, "rec-1", [_match("a", 3.0), _match("b", 1.0)], "v1")
    tm.replace_matches(cat, "rec-2", [_match("a", 1.0)], "v1")
    got = tm.matches_for_recording(cat, "rec-1")
    assert [(m.rule, m.start, m.rules_version) for m in got] == [("b", 1.0, "v1"), ("a", 3.0, "v1")]
    tm.replace_matches(cat, "rec-1", [_match("c", 2.0)], "v2")
    assert [(m.rule, m.rules_version) for m in tm.matches_for_recording(cat, "rec-1")] == [
        ("c", "v2")
    ]
    tm.replace_matches(cat, "rec-1", [], "v3")
    assert tm.matches_for_recording(cat, "rec-1") == []
    assert len(tm.matches_for_recording(cat, "rec-2")) == 1
    assert tm.recordings_matching(cat, "a") == ["rec-2"]


def test_alert_ledger_once(cat: Catalog) -> None:
    assert tm.claim_alert(cat, "rec-1", "churn", "slack") is True
    # the run died before marking: a retry may send again (the delivery key stops a duplicate)
    assert tm.claim_alert(cat, "rec-1", "churn", "slack") is True
    tm.mark_alert_sent(cat, "rec-1", "churn", "slack", "d-1")
    assert tm.claim_alert(cat, "rec-1", "churn", "slack") is False
    # other connector, other rule, other call: independent
    assert tm.claim_alert(cat, "rec-1", "churn", "email") is True
    assert tm.claim_alert(cat, "rec-1", "other", "slack") is True
    assert tm.claim_alert(cat, "rec-2", "churn", "slack") is True
    alerts = tm.alerts_for_recording(cat, "rec-1")
    assert alerts[0] == {
        "rule": "churn",
        "connector": "slack",
        "status": "sent",
        "delivery_id": "d-1",
    }


def test_rules_document_idempotent(cat: Catalog) -> None:
    assert tm.load_rules_document(cat) == {"version": "", "rules": []}
    assert tm.save_rules_document(cat, "v1", [{"name": "a", "any": ["x"]}]) is True
    assert tm.save_rules_document(cat, "v1", [{"name": "a", "any": ["x"]}]) is False
    assert tm.load_rules_document(cat)["rules"] == [{"name": "a", "any": ["x"]}]


def test_transcribed_ids_in_range_paged(cat: Catalog) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ids = []
    for i in range(7):
        rec = Recording(started_at=t0 + timedelta(hours=i // 2))  # pairs share a start time
        cat.add_recording(rec)
        if i != 3:
            cat.save_transcript(Transcript(recording_id=rec.id))
        ids.append(rec.id)
    batches = list(tm.transcribed_recording_ids(cat, None, None, batch=2))
    assert all(len(b) <= 2 for b in batches)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == sorted(i for n, i in enumerate(ids) if n != 3)
    assert len(flat) == len(set(flat))
    ranged = [
        i
        for b in tm.transcribed_recording_ids(cat, t0 + timedelta(hours=1), t0 + timedelta(hours=3))
        for i in b
    ]
    assert sorted(ranged) == sorted([ids[2], ids[4], ids[5]])
