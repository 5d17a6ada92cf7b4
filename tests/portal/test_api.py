"""REST API: bearer tokens, keyset pagination, visibility, audio ranges, JSON errors, and
schemathesis fuzzing from the OpenAPI document (no 5xx, responses match the schema)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from catalog.models import Delivery
from tests.portal.portal_support import add_calls, add_transcript


@pytest.fixture
def token(app) -> str:
    return app.state.portal.tokens.create("tests")[1]


@pytest.fixture
def api(app, token) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_auth_errors_are_json_with_reason(app):
    c = TestClient(app)
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic eDp5"},
        {"Authorization": "Bearer rf_" + "A" * 43},
    ):
        r = c.get("/api/v1/recordings", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized" and r.json()["reason"]
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_keyset_pages_cover_everything_once(api, catalog, clock, tmp_path):
    recs = add_calls(
        catalog,
        tmp_path,
        clock.now,
        [{"from_number": f"+1555{i:04d}", "to_number": "100"} for i in range(23)],
    )
    seen, cursor, pages = [], None, 0
    while True:
        r = api.get(
            "/api/v1/recordings", params={"limit": 5, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200
        body = r.json()
        seen += [it["id"] for it in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 5 and seen == [r.id for r in reversed(recs)]
    r = api.get(
        "/api/v1/recordings", params={"since": (clock.now + timedelta(minutes=20)).isoformat()}
    )
    assert len(r.json()["items"]) == 3
    r = api.get("/api/v1/recordings", params={"number": "+15550007"})
    assert [it["id"] for it in r.json()["items"]] == [recs[7].id]
    assert (
        api.get("/api/v1/recordings", params={"cursor": "!!"}).json()["error"] == "invalid_request"
    )
    assert api.get("/api/v1/recordings", params={"cursor": "AAAA"}).json()["error"] == "bad_request"
    assert api.get("/api/v1/recordings", params={"limit": 0}).status_code == 422


def test_detail_audio_transcript_deliveries_and_private_calls(api, catalog, clock, tmp_path, app):
    pub, priv = add_calls(
        catalog,
        tmp_path,
        clock.now,
        [
            {"from_number": "+15550001", "to_number": "100"},
            {"from_number": "+15550002", "to_number": "100", "private": True},
        ],
    )
    add_transcript(catalog, pub)
    for rec in (pub, priv):
        catalog.record_delivery(
            Delivery(subject_id=rec.id, connector="slack", idempotency_key=f"k-{rec.id}")
        )
    assert api.get(f"/api/v1/recordings/{pub.id}").json()["sha256"] == pub.sha256
    t = api.get(f"/api/v1/recordings/{pub.id}/transcript").json()
    assert [s["speaker"] for s in t["segments"]] == ["caller", "callee"]
    a = api.get(f"/api/v1/recordings/{pub.id}/audio", headers={"Range": "bytes=0-43"})
    assert a.status_code == 206 and a.content[:4] == b"RIFF" and len(a.content) == 44
    bad = api.get(f"/api/v1/recordings/{pub.id}/audio", headers={"Range": "bytes=99999999-"})
    assert bad.status_code == 416
    # a token is no super user: private calls do not exist for it
    assert api.get(f"/api/v1/recordings/{priv.id}").status_code == 404
    assert api.get(f"/api/v1/recordings/{priv.id}/audio").status_code == 404
    ids = [it["id"] for it in api.get("/api/v1/recordings").json()["items"]]
    assert ids == [pub.id]
    subjects = [d["subject_id"] for d in api.get("/api/v1/deliveries").json()["items"]]
    assert subjects == [pub.id]
    assert api.get("/api/v1/recordings/nope").json() == {
        "error": "not_found",
        "reason": "no such recording",
    }
    from catalog.audit import AuditFilter

    entry = app.state.portal.audit.list(AuditFilter(action="playback"))[0]
    assert entry.initiator == "token:tests" and entry.resource == f"recording:{pub.id}"


def test_metrics_count_requests_and_recordings(api, catalog, clock, tmp_path):
    add_calls(catalog, tmp_path, clock.now, [{"from_number": "1"}])
    api.get("/api/v1/recordings")
    text = api.get("/metrics").text
    assert "# TYPE recflow_recordings gauge" in text
    assert 'recflow_recordings{status="captured"} 1.0' in text
    assert 'route="/api/v1/recordings",status="200"' in text


def test_expired_recording_stops_being_playable_at_once(api, catalog, clock, tmp_path):
    """Retention (default 60 days): an expired, unheld recording answers 410 before the nightly
    run deletes it; a legal hold makes it playable again."""
    from datetime import timedelta

    old, fresh = add_calls(
        catalog,
        tmp_path,
        clock.now - timedelta(days=90),
        [{"from_number": "+15550010"}, {"from_number": "+15550011"}],
    )
    catalog.update_recording(fresh.id, started_at=clock.now - timedelta(days=1))
    assert api.get(f"/api/v1/recordings/{old.id}/audio").status_code == 410
    assert api.get(f"/api/v1/recordings/{fresh.id}/audio").status_code == 200
    acct = catalog.account()
    acct.legal_hold = True
    catalog.save_account(acct)
    assert api.get(f"/api/v1/recordings/{old.id}/audio").status_code == 200
