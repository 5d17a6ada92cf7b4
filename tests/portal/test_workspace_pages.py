"""The recordings list page as a workspace (logged in through the real login flow): search box
with snippets, views with counts, advanced conditions, save a search, bulk categorise, export;
a plain user sees only own calls and never another's private call, in counts and exports too."""

from __future__ import annotations

import csv
import io
import re

import pytest

from catalog.workspace import set_category_list
from tests.portal.portal_support import add_calls, add_transcript, csrf_of, logged_in


@pytest.fixture
def calls(catalog, clock, tmp_path):
    recs = add_calls(
        catalog,
        tmp_path,
        clock(),
        [
            {"from_number": "+15550001", "to_number": "100"},  # admin's (100), says "cancel"
            {"from_number": "+15550002", "to_number": "200"},  # the user's (200)
            {"from_number": "+15550003", "to_number": "200", "private": True},  # user's, private
            {"from_number": "+15550004", "to_number": "100", "private": True},  # not the user's
        ],
    )
    add_transcript(catalog, recs[0])
    add_transcript(catalog, recs[2])
    set_category_list(catalog, ["billing", "complaint"])
    return recs


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr id="rec-([0-9a-f-]+)"', html)


def _count(html: str, view: str) -> int:
    m = re.search(rf'data-view="{re.escape(view)}">[^<]*<span class="count">(\d+)</span>', html)
    assert m, view
    return int(m.group(1))


def test_supervisor_searches_saves_categorises_and_exports(app, admin, clock, calls):
    client = logged_in(app, admin, clock)
    page = client.get("/recordings", params={"q": "cancel"})
    assert page.status_code == 200
    assert _ids(page.text) == [calls[2].id, calls[0].id]  # an admin sees private calls too
    assert "<mark>cancel</mark> my subscription" in page.text
    assert _count(page.text, "all") == 4 and _count(page.text, "unassigned") == 4

    # advanced: the transcript says cancel AND the number ends with 0001
    page = client.get(
        "/recordings",
        params={
            "f0": "transcript",
            "o0": "includes",
            "v0": "cancel",
            "f1": "from_number",
            "o1": "ends_with",
            "v1": "0001",
        },
    )
    assert _ids(page.text) == [calls[0].id]
    bad = client.get("/recordings", params={"f0": "transcript", "o0": "regex", "v0": "(oops"})
    assert bad.status_code == 200 and "not a valid regex" in bad.text

    # bulk categorise the two hits from the result list
    page = client.get("/recordings", params={"q": "cancel"})
    r = client.post(
        "/recordings/categorize",
        data={
            "csrf": csrf_of(page.text),
            "keep": "q=cancel",
            "ids": [calls[0].id, calls[2].id],
            "category": "complaint",
            "mode": "add",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "complaint added to 2 call(s)" in page.text
    assert _count(page.text, "category:complaint") == 2 and _count(page.text, "unassigned") == 2
    assert _ids(client.get("/recordings", params={"view": "category:complaint"}).text) == [
        calls[2].id,
        calls[0].id,
    ]

    # save the search and run it again from the list
    r = client.post(
        "/recordings/saved",
        data={"csrf": csrf_of(page.text), "keep": "q=cancel", "name": "cancellations"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "saved=" in r.headers["location"]
    page = client.get(r.headers["location"])
    assert "cancellations" in page.text and _ids(page.text) == [calls[2].id, calls[0].id]

    out = client.get("/recordings/export", params={"format": "csv", "q": "cancel"})
    rows = list(csv.reader(io.StringIO(out.text)))
    assert sorted(r[0] for r in rows[1:]) == sorted([calls[0].id, calls[2].id])
    assert all(r[10] == "complaint" for r in rows[1:])
    # unsafe without the CSRF token
    assert client.post("/recordings/saved", data={"name": "x"}).status_code == 403


def test_user_sees_only_own_and_non_private_calls_everywhere(app, make_user, clock, calls):
    user = make_user("agent@example.com", "user", numbers=["200"])
    client = logged_in(app, user, clock)
    page = client.get("/recordings")
    assert set(_ids(page.text)) == {calls[1].id, calls[2].id}  # own private call included
    assert _count(page.text, "all") == 2 and _count(page.text, "mine") == 2
    assert _ids(client.get("/recordings", params={"q": "cancel"}).text) == [calls[2].id]
    out = client.get("/recordings/export", params={"format": "csv"}).text
    assert calls[3].id not in out and calls[0].id not in out and calls[1].id in out
    # categorising a call one may not see: it does not exist
    page = client.get("/recordings")
    r = client.post(
        "/recordings/categorize",
        data={"csrf": csrf_of(page.text), "ids": [calls[3].id], "category": "billing"},
    )
    assert r.status_code == 404


def test_call_page_shows_waveform_matches_notes_and_categories(app, admin, clock, calls, catalog):
    from catalog.notes import add_note
    from catalog.trigger_matches import replace_matches
    from catalog.workspace import set_categories

    rec = calls[0]
    add_note(
        catalog, rec.id, "admin@example.com", "customer wants to leave", pinned=True, offset=0.2
    )
    set_categories(catalog, [rec.id], ["complaint"], by="t")
    replace_matches(
        catalog,
        rec.id,
        [
            {
                "rule": "churn",
                "phrase": "cancel my subscription",
                "kind": "phrase",
                "speaker": "caller",
                "start": 0.1,
                "end": 0.4,
                "snippet": "",
            }
        ],
        "v1",
    )
    client = logged_in(app, admin, clock)
    html = client.get(f"/recordings/{rec.id}").text
    assert '<svg class="waveform"' in html and html.count('<polygon class="lane') == 2
    assert 'class="marker match"' in html and 'class="marker note"' in html
    assert "churn" in html and 'data-seek="0.1"' in html
    assert "customer wants to leave" in html and "complaint" in html
    assert 'id="speed"' in html


def test_categories_and_fields_from_the_settings_page_and_the_call_page(
    app, admin, clock, calls, catalog
):
    from catalog.audit import Audit, AuditFilter
    from catalog.workspace import categories_of, custom_values_of, list_custom_fields

    client = logged_in(app, admin, clock)
    page = client.get("/settings/config")
    assert "categories" in page.text and "custom_fields" in page.text
    r = client.post(
        "/settings/config/categories",
        data={"csrf": csrf_of(page.text), "yaml": "- billing\n- complaint\n- churn\n"},
    )
    assert r.status_code == 200 and "categories: 1 change(s) applied" in r.text
    r = client.post(
        "/settings/config/custom_fields",
        data={
            "csrf": csrf_of(page.text),
            "yaml": "- name: outcome\n  type: option\n  options: [won, lost]\n",
        },
    )
    assert r.status_code == 200 and [f.name for f in list_custom_fields(catalog)] == ["outcome"]
    bad = client.post(
        "/settings/config/custom_fields",
        data={"csrf": csrf_of(page.text), "yaml": "- name: x\n  type: option\n"},
    )
    assert bad.status_code == 400 and "needs options" in bad.text

    rec = calls[0]
    page = client.get(f"/recordings/{rec.id}")
    r = client.post(
        f"/recordings/{rec.id}/labels",
        data={
            "csrf": csrf_of(page.text),
            "categories": ["churn", "billing"],
            "field.outcome": "lost",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert categories_of(catalog, [rec.id])[rec.id] == ["billing", "churn"]
    assert custom_values_of(catalog, [rec.id])[rec.id] == {"outcome": "lost"}
    entry = next(
        e
        for e in Audit(catalog).list(AuditFilter(resource=f"recording:{rec.id}"))
        if e.action == "recording.labels"
    )
    assert {c.field for c in entry.changes} == {"categories", "custom.outcome"}
    r = client.post(
        f"/recordings/{rec.id}/labels",
        data={"csrf": csrf_of(page.text), "field.outcome": "maybe"},
    )
    assert "must be one of won, lost" in r.text
    r = client.post(
        f"/recordings/{rec.id}/notes",
        data={"csrf": csrf_of(page.text), "text": "late", "offset": "soon"},
    )
    assert "not a time in the call" in r.text
