"""POST /api/v1/sms and friends: every bad input answered 400 with the field named, nothing
half-stored, retries idempotent, auth supplied by the portal's dependency."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from catalog.sms import get_sms, replace_contacts
from catalog.sms_tables import SmsRow
from portal.api_sms import make_router

TOKEN = "test-token"
GOOD = {
    "subscriber": "+441632960559",
    "from": "+447700900127",
    "to": "+441632960559",
    "timestamp": "2025-05-03T10:30:00Z",
    "text": "Meet at 10:30 — café ☕ on Rue de l'Église, ok?",
}


def bearer(request: Request) -> str:
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        raise HTTPException(401, "missing bearer token")
    return "caller"


@pytest.fixture
def client(sms_catalog):
    api = FastAPI()
    api.include_router(make_router(bearer, catalog=lambda: sms_catalog))
    app = FastAPI()
    app.mount("/api/v1", api)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def stored(catalog) -> int:
    with catalog.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(SmsRow)))


def test_post_stores_and_retry_is_idempotent(client, sms_catalog):
    r = client.post("/api/v1/sms", json=GOOD)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["direction"] == "inbound" and body["subscriber"] == "+441632960559"
    assert body["text"] == GOOD["text"] and body["received_at"].startswith("2025-05-03T10:30:00")
    assert get_sms(sms_catalog, body["id"]).source == "api"
    again = client.post("/api/v1/sms", json=GOOD)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    with_id = client.post("/api/v1/sms", json={**GOOD, "id": "m-1", "timestamp": None})
    assert with_id.status_code == 201
    assert (
        client.post("/api/v1/sms", json={**GOOD, "id": "m-1", "timestamp": None}).json()["id"]
        == with_id.json()["id"]
    )
    assert stored(sms_catalog) == 2


def test_outbound_when_the_subscriber_sent_it(client):
    r = client.post("/api/v1/sms", json={**GOOD, "subscriber": GOOD["from"]})
    assert r.status_code == 201 and r.json()["direction"] == "outbound"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": None}, "from"),
        ({"from": ""}, "from"),
        ({"to": None}, "to"),
        ({"to": "call me"}, "to"),
        ({"text": None}, "text"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 1601}, "text"),
        ({"text": 42}, "text"),
        ({"timestamp": "last tuesday"}, "timestamp"),
        ({"timestamp": "2025-02-30T10:00:00Z"}, "timestamp"),
        ({"timestamp": "2999-01-01T00:00:00Z"}, "timestamp"),
        ({"subscriber": "+15550000000"}, "subscriber"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_fields_are_400_with_the_field_named(client, sms_catalog, change, field):
    doc = {**GOOD, **change}
    doc = {k: v for k, v in doc.items() if not (v is None and k in change)}
    r = client.post("/api/v1/sms", json=doc)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["reason"].startswith(f"{field}: ")
    assert stored(sms_catalog) == 0


def test_invalid_utf8_in_the_body_names_the_text_field(client, sms_catalog):
    raw = json.dumps({**GOOD, "text": "PLACEHOLDER"}, ensure_ascii=False).encode()
    raw = raw.replace(b"PLACEHOLDER", b"caf\xe9 \xff")  # Latin-1 bytes, not UTF-8
    r = client.post("/api/v1/sms", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "text"
    # a lone surrogate escaped in JSON is not text either
    r = client.post(
        "/api/v1/sms",
        content=b'{"from":"+1","to":"+2","text":"\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["field"] == "text"
    assert stored(sms_catalog) == 0


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,2]", b'{"from": "+1"'])
def test_malformed_bodies(client, raw):
    r = client.post("/api/v1/sms", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body"


def test_auth_is_the_portals_dependency(sms_catalog):
    api = FastAPI()
    api.include_router(make_router(bearer, catalog=lambda: sms_catalog))
    with TestClient(api) as c:
        assert c.post("/sms", json=GOOD).status_code == 401
        assert c.get("/sms").status_code == 401
        assert c.get("/contacts").status_code == 401
    assert stored(sms_catalog) == 0


def test_list_show_csv_and_contacts(client, sms_catalog):
    sid = client.post("/api/v1/sms", json=GOOD).json()["id"]
    assert [s["id"] for s in client.get("/api/v1/sms").json()["items"]] == [sid]
    assert client.get(f"/api/v1/sms/{sid}").json()["text"] == GOOD["text"]
    assert client.get("/api/v1/sms/nope-nope").status_code == 404
    csv_resp = client.get("/api/v1/sms/monthly/2025/05")
    assert csv_resp.status_code == 200
    assert "recflow_SMSMessages_2025_05.csv" in csv_resp.headers["content-disposition"]
    assert sid in csv_resp.text and csv_resp.text.startswith("Message ID,Date time (UTC),")
    assert (
        client.put("/api/v1/contacts/+447700900127", json={"name": "Olive Sender"}).status_code
        == 200
    )
    assert client.get("/api/v1/contacts").json() == {"+447700900127": "Olive Sender"}
    assert client.delete("/api/v1/contacts/+447700900127").status_code == 204
    assert client.get("/api/v1/contacts").json() == {}
    replace_contacts(sms_catalog, {})


def test_openapi_documents_the_body(client):
    doc = client.get("/api/v1/openapi.json").json()
    schema = doc["paths"]["/sms"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"from", "to", "text", "timestamp", "subscriber"} <= set(schema["properties"])
