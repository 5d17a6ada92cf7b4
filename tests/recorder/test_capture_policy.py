"""Account switches applied at capture: dynamic private calls (*1) and the announcement in force;
each captured recording is sealed into the manifest chain (one append per batch)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from catalog.manifests import manifest_for
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from recorder.capture import CatalogSink
from services.tamper import verify_one
from tests.portal.portal_support import write_wav


@pytest.fixture
def catalog(tmp_path: Path):
    cat = Catalog.open(RecflowSettings(data_dir=tmp_path / "data", secret_key="capture-key"))
    yield cat
    cat.db.dispose()


def _live(tmp_path: Path, private: bool) -> tuple[dict, Path]:
    rid = str(uuid.uuid4())
    audio = write_wav(tmp_path / f"{rid}.rec")
    desc = {
        "recording_id": rid,
        "from_number": "+15550001",
        "to_number": "100",
        "started_at": "2026-03-02T09:00:00+00:00",
        "private": private,
        "metadata": {"dtmf": "*1" if private else ""},
    }
    return desc, audio


def _switch(catalog: Catalog, **features: object) -> None:
    acct = catalog.account()
    for k, v in features.items():
        setattr(acct.features, k, v)
    catalog.save_account(acct)


def test_star_one_marks_private_only_while_the_switch_is_on(catalog, tmp_path):
    sink = CatalogSink(catalog)
    desc, audio = _live(tmp_path, private=True)
    rec = catalog.get_recording(sink.capture(desc, audio, 8000))
    assert rec.private and "private_code_ignored" not in rec.metadata
    _switch(catalog, dynamic_private_calls=False)
    desc, audio = _live(tmp_path, private=True)
    rec = catalog.get_recording(sink.capture(desc, audio, 8000))
    assert not rec.private and rec.metadata["private_code_ignored"] is True
    # the batch path obeys the same switch
    items = [(*_live(tmp_path, private=True), 8000) for _ in range(3)]
    ids = sink.capture_many(items)
    assert [catalog.get_recording(i).private for i in ids] == [False] * 3


def test_each_recording_records_the_announcement_in_force_and_is_sealed(catalog, tmp_path):
    sink = CatalogSink(catalog)
    _switch(catalog, announcements="recorded-and-monitored-female")
    ids = sink.capture_many([(*_live(tmp_path, private=False), 8000) for _ in range(2)])
    ids.append(sink.capture(*_live(tmp_path, private=False), 8000))
    recs = [catalog.get_recording(i) for i in ids]
    assert [r.metadata["announcement"] for r in recs] == ["recorded-and-monitored-female"] * 3
    assert [manifest_for(catalog, i).seq for i in ids] == [1, 2, 3]
    assert [verify_one(catalog, i).status for i in ids] == ["intact"] * 3
