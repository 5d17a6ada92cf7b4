"""The recordings workspace through /api/v1: quick search with snippets, advanced search and its
4xx answers, categories (one call and bulk, audited with diffs), saved searches, views, exports,
and private calls kept out of all of them."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from catalog.audit import Audit, AuditFilter
from catalog.models import Speaker, Transcript, TranscriptSegment
from catalog.workspace import CustomField, put_custom_field, set_category_list
from tests.portal.portal_support import add_calls, add_transcript


@pytest.fixture
def api(app) -> TestClient:
    token = app.state.portal.tokens.create("workspace-tests")[1]
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def calls(catalog, clock, tmp_path):
    pos, neg, private = add_calls(
        catalog,
        tmp_path,
        clock(),
        [
            {"from_number": "+447700900123", "to_number": "+441632960555"},
            {"from_number": "+447700900124", "to_number": "+441632960555"},
            {"from_number": "+447700900999", "to_number": "+441632960555", "private": True},
        ],
    )
    add_transcript(catalog, pos)
    add_transcript(catalog, private)
    catalog.save_transcript(
        Transcript(
            recording_id=neg.id,
            segments=[
                TranscriptSegment(
                    speaker=Speaker.caller, channel=0, start=0, end=1, text="When do you open?"
                )
            ],
        )
    )
    set_category_list(catalog, ["billing", "delivery"])
    return pos, neg, private


def _ids(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["items"]]


def test_quick_search_finds_what_was_said_with_snippets(api, calls):
    pos, neg, _private = calls
    r = api.get("/api/v1/recordings", params={"q": "cancel"})
    assert _ids(r) == [pos.id]  # the private call said it too, but a token never sees it
    item = r.json()["items"][0]
    assert item["from_number"] == "+447700900123" and item["audio_url"].endswith("/audio")
    (snip,) = item["snippets"]
    assert snip["speaker"] == "caller" and snip["start"] == 0.0
    a, b = snip["highlights"][0]
    assert snip["text"][a:b] == "cancel"
    assert _ids(api.get("/api/v1/recordings")) == [neg.id, pos.id]  # the plain list still works
    assert api.get("/api/v1/recordings", params={"q": "x" * 501}).status_code == 422
    assert api.get("/api/v1/recordings", params={"q": "a", "cursor": "rel!"}).status_code == 422


def test_advanced_search_and_its_errors(api, calls):
    pos, neg, _ = calls
    body = {
        "match": "all",
        "conditions": [
            {"field": "transcript", "op": "includes", "value": "cancel"},
            {"field": "duration", "op": "not_empty", "value": None},
        ],
    }
    assert _ids(api.post("/api/v1/recordings/search", json=body)) == [pos.id]
    one = {"conditions": [{"field": "from_number", "op": "ends_with", "value": "0124"}]}
    assert _ids(api.post("/api/v1/recordings/search", json=one)) == [neg.id]
    both = {
        "match": "any",
        "conditions": [
            {"field": "transcript", "op": "regex", "value": r"\bopen\?"},
            {"field": "from_number", "op": "equal", "value": "+447700900123"},
        ],
    }
    assert _ids(api.post("/api/v1/recordings/search", json=both)) == [neg.id, pos.id]

    def bad(cond: dict, status: int = 400) -> str:
        r = api.post("/api/v1/recordings/search", json={"conditions": [cond]})
        assert r.status_code == status, r.text
        return r.json()["reason"]

    assert "not a valid regex" in bad({"field": "transcript", "op": "regex", "value": "(unclosed"})
    assert "unknown field 'shoe_size'" in bad({"field": "shoe_size", "op": "equal", "value": 1})
    assert "unknown operator 'near'" in bad({"field": "transcript", "op": "near", "value": "a"})
    huge = api.post(
        "/api/v1/recordings/search",
        json={"conditions": [{"field": "transcript", "op": "includes", "value": "x" * 10_000_000}]},
    )
    assert huge.status_code == 400 and "longer than" in huge.json()["reason"]
    assert bad({"field": "note", "op": "equal", "x": 1}, 422)


def test_categories_filter_bulk_and_audit(api, app, calls, catalog):
    pos, neg, private = calls
    r = api.put(f"/api/v1/recordings/{pos.id}/categories", json={"categories": ["billing"]})
    assert r.status_code == 200 and r.json()["categories"] == ["billing"]
    assert _ids(api.get("/api/v1/recordings", params={"category": "billing"})) == [pos.id]
    r = api.put(f"/api/v1/recordings/{pos.id}/categories", json={"categories": ["refunds"]})
    assert r.status_code == 400 and "unknown category: refunds" in r.json()["reason"]
    r = api.post(
        "/api/v1/recordings/categories",
        json={"ids": [pos.id, neg.id], "categories": ["delivery"], "mode": "add"},
    )
    assert r.json() == {"changed": 2}
    assert _ids(api.get("/api/v1/recordings", params={"category": "delivery"})) == [neg.id, pos.id]
    # a call the caller may not see cannot be categorised (and does not exist for it)
    r = api.put(f"/api/v1/recordings/{private.id}/categories", json={"categories": ["billing"]})
    assert r.status_code == 404
    entries = Audit(catalog).list(AuditFilter(resource=f"recording:{pos.id}"))
    diffs = [
        (c.old, c.new) for e in entries if e.action == "recording.categories" for c in e.changes
    ]
    assert sorted(diffs) == [([], ["billing"]), (["billing"], ["billing", "delivery"])]
    views = {v["key"]: v["count"] for v in api.get("/api/v1/recordings/views").json()}
    assert views == {"all": 2, "unassigned": 0, "category:billing": 1, "category:delivery": 2}


def test_custom_fields_on_a_call(api, calls, catalog):
    pos, *_ = calls
    put_custom_field(catalog, CustomField(name="outcome", kind="option", options=["won", "lost"]))
    r = api.put(f"/api/v1/recordings/{pos.id}/custom-fields", json={"values": {"outcome": "won"}})
    assert r.status_code == 200 and r.json() == {"outcome": "won"}
    r = api.put(f"/api/v1/recordings/{pos.id}/custom-fields", json={"values": {"outcome": "meh"}})
    assert r.status_code == 400
    body = {"conditions": [{"field": "custom.outcome", "op": "equal", "value": "won"}]}
    items = api.post("/api/v1/recordings/search", json=body).json()["items"]
    assert [(x["id"], x["custom_fields"]) for x in items] == [(pos.id, {"outcome": "won"})]


def test_saved_search_runs_from_the_list_and_exports(api, app, calls):
    pos, neg, _private = calls
    r = api.post("/api/v1/saved-searches", json={"name": "cancellations", "query": {"q": "cancel"}})
    assert r.status_code == 201
    sid = r.json()["id"]
    assert [s["name"] for s in api.get("/api/v1/saved-searches").json()] == ["cancellations"]
    assert _ids(api.get("/api/v1/recordings", params={"saved": sid})) == [pos.id]
    assert api.get("/api/v1/recordings", params={"saved": 999}).status_code == 404
    bad = {"name": "x", "query": {"conditions": [{"field": "note", "op": "regex", "value": "("}]}}
    assert api.post("/api/v1/saved-searches", json=bad).status_code == 400
    # another token's private saved search is not runnable
    other = app.state.portal.tokens.create("someone-else")[1]
    r = TestClient(app).get(
        "/api/v1/recordings", params={"saved": sid}, headers={"Authorization": f"Bearer {other}"}
    )
    assert r.status_code == 404

    r = api.get("/api/v1/recordings/export", params={"format": "csv", "saved": sid})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["id", "started_at", "from_number"] and [x[0] for x in rows[1:]] == [
        pos.id
    ]
    x = api.get("/api/v1/recordings/export", params={"format": "xlsx"})
    assert x.status_code == 200 and x.content[:2] == b"PK"
    path = app.state.portal.catalog.settings.resolved_data_dir / "e.xlsx"
    path.write_bytes(x.content)
    got = {
        r[0]
        for r in load_workbook(path, read_only=True).active.iter_rows(min_row=2, values_only=True)
    }
    assert got == {pos.id, neg.id}  # never the private call
    assert api.get("/api/v1/recordings/export", params={"format": "pdf"}).status_code == 422


def test_workspace_routes_need_a_token(app, calls):
    anon = TestClient(app)
    assert anon.get("/api/v1/recordings", params={"q": "cancel"}).status_code == 401
    assert anon.post("/api/v1/recordings/search", json={}).status_code == 401
    assert anon.get("/api/v1/recordings/export").status_code == 401
    assert anon.post("/api/v1/saved-searches", json={"name": "a", "query": {}}).status_code == 401
    assert (
        anon.put(
            f"/api/v1/recordings/{calls[0].id}/categories", json={"categories": []}
        ).status_code
        == 401
    )


def test_recording_detail_carries_categories_fields_and_notes(api, calls, catalog):
    pos, *_ = calls
    api.put(f"/api/v1/recordings/{pos.id}/categories", json={"categories": ["billing"]})
    api.post(f"/api/v1/recordings/{pos.id}/notes", json={"text": "call back", "pinned": True})
    api.post(f"/api/v1/recordings/{pos.id}/notes", json={"text": "done"})
    d = api.get(f"/api/v1/recordings/{pos.id}").json()
    assert d["id"] == pos.id and d["categories"] == ["billing"] and d["custom_fields"] == {}
    assert (d["notes_count"], d["pinned_notes"]) == (2, 1)
    assert d["transcript_url"].endswith("/transcript")
    # notes are searchable at once (the index follows them)
    assert _ids(api.get("/api/v1/recordings", params={"q": "call back"})) == [pos.id]


def test_notes_carry_an_offset_and_only_their_author_edits_them(api, app, calls, catalog):
    pos, *_ = calls
    r = api.post(
        f"/api/v1/recordings/{pos.id}/notes", json={"text": "refund promised", "offset": 12.5}
    )
    assert r.status_code == 201 and r.json()["offset"] == 12.5
    nid = r.json()["id"]
    r = api.patch(
        f"/api/v1/recordings/{pos.id}/notes/{nid}", json={"text": "credit promised", "pinned": True}
    )
    assert r.status_code == 200 and (r.json()["text"], r.json()["pinned"]) == (
        "credit promised",
        True,
    )
    assert _ids(api.get("/api/v1/recordings", params={"q": "credit"})) == [pos.id]
    assert _ids(api.get("/api/v1/recordings", params={"q": "refund"})) == []
    other = app.state.portal.tokens.create("colleague")[1]
    r = TestClient(app).patch(
        f"/api/v1/recordings/{pos.id}/notes/{nid}",
        json={"text": "mine now"},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert r.status_code == 403
    assert (
        api.patch(f"/api/v1/recordings/{pos.id}/notes/999", json={"pinned": True}).status_code
        == 404
    )
    assert (
        api.post(f"/api/v1/recordings/{pos.id}/notes", json={"text": "x", "offset": -1}).status_code
        == 422
    )
    entries = Audit(catalog).list(AuditFilter(resource=f"recording:{pos.id}"))
    edit = next(e for e in entries if e.action == "recording.note_edit")
    assert {(c.field, c.old, c.new) for c in edit.changes} == {
        (f"note.{nid}.text", "refund promised", "credit promised"),
        (f"note.{nid}.pinned", False, True),
    }


def test_quick_search_newest_first_on_request(api, calls, catalog, clock, tmp_path):
    pos, *_ = calls
    (later,) = add_calls(
        catalog, tmp_path, clock() + timedelta(hours=1), [{"from_number": "+1", "to_number": "+2"}]
    )
    add_transcript(catalog, later)
    assert _ids(api.get("/api/v1/recordings", params={"q": "cancel", "sort": "newest"})) == [
        later.id,
        pos.id,
    ]
    assert api.get("/api/v1/recordings", params={"q": "x", "sort": "oldest"}).status_code == 422
