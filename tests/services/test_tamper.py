"""Tamper evidence: signed, chained manifests; `recflow recordings verify` on real files."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import update

from catalog.manifests import ManifestRow, delete_manifest, manifest_for, public_key_pem
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from services.tamper import verify_all, verify_one
from tests.portal.portal_support import add_calls


@pytest.fixture
def catalog(tmp_path: Path):
    cat = Catalog.open(RecflowSettings(data_dir=tmp_path / "data", secret_key="tamper-tests-key"))
    yield cat
    cat.db.dispose()


@pytest.fixture
def recs(catalog, tmp_path):
    from datetime import UTC, datetime

    specs = [{"from_number": f"+1555{i}", "to_number": "100"} for i in range(4)]
    return add_calls(catalog, tmp_path, datetime(2026, 3, 2, tzinfo=UTC), specs)


def flip_one_byte(catalog, rec) -> None:
    p = catalog.store.local_path(rec.file_key)
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x01
    p.write_bytes(bytes(b))


def test_fresh_recordings_are_intact_and_the_chain_is_whole(catalog, recs):
    assert [verify_one(catalog, r.id).status for r in recs] == ["intact"] * 4
    verdicts = list(verify_all(catalog))
    assert [v.status for v in verdicts] == ["intact"] * 4
    seqs = [json.loads(manifest_for(catalog, r.id).body)["seq"] for r in recs]
    assert seqs == [1, 2, 3, 4]


def test_one_altered_byte_is_reported_altered(catalog, recs):
    flip_one_byte(catalog, recs[1])
    v = verify_one(catalog, recs[1].id)
    assert v.status == "altered" and "sha256" in v.reason
    assert [x.status for x in verify_all(catalog)].count("altered") == 1


def test_a_deleted_manifest_is_reported_missing_and_breaks_the_chain(catalog, recs):
    delete_manifest(catalog, recs[2].id)
    assert verify_one(catalog, recs[2].id).status == "missing"
    verdicts = list(verify_all(catalog))
    assert ("chain", "broken") in {(v.subject, v.status) for v in verdicts}
    assert any("manifests 3..3 are missing" in v.reason for v in verdicts)


def test_a_removed_recording_with_its_manifest_leaves_a_broken_chain(catalog, recs):
    from sqlalchemy import delete

    from catalog.tables import RecordingRow

    with catalog.db.session() as s:
        s.execute(delete(RecordingRow).where(RecordingRow.id == recs[1].id))
    delete_manifest(catalog, recs[1].id)
    catalog.store.delete(recs[1].file_key)
    broken = [v for v in verify_all(catalog) if v.status == "broken"]
    assert len(broken) == 1 and "2..2" in broken[0].reason


def test_an_edited_manifest_or_row_is_altered(catalog, recs):
    m = manifest_for(catalog, recs[0].id)
    doc = json.loads(m.body)
    doc["to"] = "999"
    with catalog.db.session() as s:
        s.execute(
            update(ManifestRow)
            .where(ManifestRow.seq == m.seq)
            .values(body=json.dumps(doc, sort_keys=True, separators=(",", ":")))
        )
    assert verify_one(catalog, recs[0].id).reason == "manifest does not match its signature"
    catalog.update_recording(recs[3].id, to_number="555")
    assert "to number" in verify_one(catalog, recs[3].id).reason


def test_an_auditor_verifies_without_recflow(catalog, recs):
    """The documented recipe: the public key, the manifest body and the file are enough."""
    m = manifest_for(catalog, recs[0].id)
    pub = load_pem_public_key(public_key_pem("tamper-tests-key").encode())
    pub.verify(base64.b64decode(m.signature), m.body.encode())  # raises if forged
    data = catalog.store.local_path(recs[0].file_key).read_bytes()
    assert hashlib.sha256(data).hexdigest() == json.loads(m.body)["sha256"]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"RECFLOW_DATA_DIR": str(data_dir), "RECFLOW_SECRET_KEY": "tamper-tests-key", "PATH": ""}
    return subprocess.run(
        [sys.executable, "-m", "recflow", "recordings", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_verify_exit_codes(catalog, recs, tmp_path):
    data = tmp_path / "data"
    ok = _cli(data, "verify", recs[0].id)
    assert ok.returncode == 0 and ok.stdout.strip() == f"{recs[0].id}: intact"
    flip_one_byte(catalog, recs[0])
    bad = _cli(data, "verify", recs[0].id)
    assert bad.returncode == 1 and ": altered (" in bad.stdout
    every = _cli(data, "verify", "--all", "--json")
    assert every.returncode == 1
    assert [v["status"] for v in json.loads(every.stdout)["verdicts"]].count("intact") == 3
    assert _cli(data, "verify", "nope-nope").returncode == 1
    assert _cli(data, "verify").returncode == 2
    pem = _cli(data, "public-key")
    assert pem.returncode == 0 and pem.stdout.startswith("-----BEGIN PUBLIC KEY-----")


def test_seal_unsealed_recordings_after_an_upgrade(catalog, recs):
    from services.tamper import seal_unsealed

    for r in recs[:2]:
        delete_manifest(catalog, r.id)
    flip_one_byte(catalog, recs[1])  # changed before sealing: not sealed, still reported
    assert seal_unsealed(catalog) == 1
    assert verify_one(catalog, recs[0].id).status == "intact"
    assert verify_one(catalog, recs[1].id).status == "missing"
    assert seal_unsealed(catalog) == 0
