"""Notes on a call through /api/v1: pinned first, authored, audited, private calls hidden."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from catalog.audit import Audit, AuditFilter
from catalog.notes import latest_note_by, list_notes
from tests.portal.portal_support import add_calls


@pytest.fixture
def api(app) -> TestClient:
    token = app.state.portal.tokens.create("notes-tests")[1]
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_notes_are_added_listed_pinned_first_and_audited(api, catalog, clock, tmp_path):
    (rec,) = add_calls(
        catalog, tmp_path, clock(), [{"from_number": "+15550001", "to_number": "100"}]
    )
    assert api.get(f"/api/v1/recordings/{rec.id}/notes").json() == {"items": []}
    r1 = api.post(f"/api/v1/recordings/{rec.id}/notes", json={"text": "first look"})
    r2 = api.post(
        f"/api/v1/recordings/{rec.id}/notes", json={"text": "refund promised", "pinned": True}
    )
    assert r1.status_code == r2.status_code == 201
    items = api.get(f"/api/v1/recordings/{rec.id}/notes").json()["items"]
    assert [(n["text"], n["pinned"], n["author"]) for n in items] == [
        ("refund promised", True, "token:notes-tests"),
        ("first look", False, "token:notes-tests"),
    ]
    assert latest_note_by(catalog, rec.id, "token:notes-tests").text == "refund promised"
    assert latest_note_by(catalog, rec.id, "someone-else") is None
    actions = [e.action for e in Audit(catalog).list(AuditFilter(resource=f"recording:{rec.id}"))]
    assert actions.count("recording.note") == 2


def test_bad_notes_and_hidden_calls_are_refused(api, catalog, clock, tmp_path):
    rec, private = add_calls(
        catalog,
        tmp_path,
        clock(),
        [
            {"from_number": "+15550001", "to_number": "100"},
            {"from_number": "+15550002", "to_number": "100", "private": True},
        ],
    )
    assert api.post(f"/api/v1/recordings/{rec.id}/notes", json={"text": ""}).status_code == 422
    assert api.post(f"/api/v1/recordings/{rec.id}/notes", json={"text": "   "}).status_code == 422
    assert api.post(f"/api/v1/recordings/{rec.id}/notes", json={"x": 1}).status_code == 422
    # a token may not see private calls: they do not exist for it
    assert api.post(f"/api/v1/recordings/{private.id}/notes", json={"text": "x"}).status_code == 404
    assert api.get("/api/v1/recordings/nope/notes").status_code == 404
    assert list_notes(catalog, private.id) == []
    assert TestClient(api.app).get(f"/api/v1/recordings/{rec.id}/notes").status_code == 401
