"""`archive:` and `retention:` in `recflow config apply`, and the CLI end to end (config apply,
ingest, `archive run` twice, retention) against moto's S3 server, with no Prefect server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from catalog import archive as store
from catalog.repository import Catalog
from services.config.base import ConfigFileError
from services.config.document import apply_document, export_document
from tests.archive.archive_support import write_call_wav

ROOT = Path(__file__).resolve().parents[2]


def doc(endpoint: str = "http://127.0.0.1:9", **archive: object) -> dict:
    entry = {
        "name": "nightly-s3",
        "connector": "s3-archive",
        "layout": "focus",
        "formats": ["MP3"],
        "schedule": "0 2 * * *",
        "mode": "copy",
        **archive,
    }
    return {
        "connectors": [
            {
                "name": "s3-archive",
                "kind": "s3",
                "config": {
                    "bucket": "b",
                    "endpoint_url": endpoint,
                    "access_key_id": "${AK}",
                    "secret_access_key": "${SK}",
                },
            },
            {"name": "hook", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/x"}},
        ],
        "archive": [entry],
        "retention": {"default_days": 30, "legal_hold": False},
    }


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AK", "testing")
    monkeypatch.setenv("SK", "testing")


def problems(catalog: Catalog, d: dict) -> dict[str, str]:
    with pytest.raises(ConfigFileError) as e:
        apply_document(catalog, d)
    return dict(e.value.problems)


def test_apply_is_idempotent_and_exports_back(catalog: Catalog) -> None:
    changes = apply_document(catalog, doc())
    assert "archive.nightly-s3: created (s3-archive, focus, 0 2 * * *)" in changes
    assert apply_document(catalog, doc()) == []
    [d] = store.load_destinations(catalog)
    assert d.formats == ["MP3"] and d.schedule == "0 2 * * *"
    assert store.load_policy(catalog).default_days == 30
    exported = export_document(catalog)
    assert exported["archive"][0]["layout"] == "focus"
    assert "testing" not in yaml.safe_dump(exported)
    assert apply_document(catalog, {**doc(), "archive": exported["archive"]}) == []
    # schedules: one Prefect deployment schedule per archive
    from flows.archive import archive_schedules

    [sched] = archive_schedules(catalog)
    assert sched.cron == "0 2 * * *" and sched.parameters == {"destination": "nightly-s3"}


def test_validation_names_the_bad_field(catalog: Catalog) -> None:
    p = problems(
        catalog,
        doc(
            connector="nope",
            schedule="every night",
            timezone="Mars/Olympus",
            layout="{{ nope }}",
            formats=["MP3", "OGG"],
            secondary="hook",
        ),
    )
    assert "archive.0.schedule" in p and "archive.0.timezone" in p and "archive.0.formats.1" in p
    p = problems(catalog, doc(connector="nope", secondary="hook", layout="{{ nope }}"))
    assert "unknown connector 'nope'" in p["archive.0.connector"]
    assert "cannot store objects" in p["archive.0.secondary"]
    assert "layout" in p["archive.0.layout"]
    bad = doc()
    bad["account"] = {"legal_hold": True}
    assert "retention.legal_hold" in problems(catalog, bad)
    assert store.load_destinations(catalog) == []  # nothing applied


def test_legal_hold_from_retention_section(catalog: Catalog) -> None:
    d = doc()
    d["retention"]["legal_hold"] = True
    assert "retention.legal_hold: False -> True" in apply_document(catalog, d)
    assert catalog.account().legal_hold is True


def test_cli_end_to_end(tmp_path: Path, moto_endpoint: str, s3_bucket: str) -> None:
    env = {
        **os.environ,
        "RECFLOW_DATA_DIR": str(tmp_path / "data"),
        "AK": "testing",
        "SK": "testing",
    }
    env.pop("PREFECT_API_URL", None)
    cfg = tmp_path / "c.yaml"
    d = doc(moto_endpoint)
    d["connectors"][0]["config"]["bucket"] = s3_bucket
    d["account"] = {"name": "Acceptance Test"}
    cfg.write_text(yaml.safe_dump(d))

    def recflow(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "recflow", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout

    recflow("config", "apply", str(cfg))
    wav = write_call_wav(tmp_path / "call.wav", 2.0)
    recflow("ingest", str(wav), "--from", "+447700900128", "--to", "+441632960560")
    planned = json.loads(recflow("archive", "run", "nightly-s3", "--dry-run", "--json"))
    assert len(planned["planned"]) == 1
    first = json.loads(recflow("archive", "run", "nightly-s3", "--json"))
    assert first["uploaded_objects"] == 1 and first["failed"] == {}
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    pat = re.compile(
        r"^MP3/Daily/\d{4}/\d{2}/\d{2}/\d{14}_\+447700900128_\+441632960560_[^_/]+_[^_/]+\.mp3$"
    )
    assert len(keys) == 1 and pat.match(keys[0]), keys
    assert "nothing new" in recflow("archive", "run", "nightly-s3")
    assert len(s3.list_objects_v2(Bucket=s3_bucket)["Contents"]) == 1
    report = recflow("retention", "report", "--csv")
    assert report.splitlines()[0].startswith("recording_id,")
    assert "nightly-s3" in recflow("archive", "list")
