"""Forced comments (server-side, every audio path), reports and the dashboard through the real
portal app: API tokens, logged-in pages, a movable clock for the five-minute replay window."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from catalog.audit import Audit, AuditFilter
from catalog.models import AccountSettings, ReviewMode
from tests.portal.portal_support import add_calls, csrf_of, logged_in


def forced(catalog, on: bool = True) -> None:
    acct: AccountSettings = catalog.account()
    acct.features.forced_comments = on
    acct.features.communication_reviews = ReviewMode.off
    catalog.save_account(acct)


@pytest.fixture
def api(app) -> TestClient:
    token = app.state.portal.tokens.create("qa-tests")[1]
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_audio_is_served_freely_while_the_switch_is_off(api, catalog, clock, tmp_path):
    (rec,) = add_calls(catalog, tmp_path, clock(), [{"from_number": "+1555", "to_number": "100"}])
    assert api.get(f"/api/v1/recordings/{rec.id}/audio").status_code == 200


def test_forced_comment_blocks_api_audio_until_the_caller_comments(api, catalog, clock, tmp_path):
    forced(catalog)
    (rec,) = add_calls(catalog, tmp_path, clock(), [{"from_number": "+1555", "to_number": "100"}])
    url = f"/api/v1/recordings/{rec.id}/audio"
    r = api.get(url)
    assert r.status_code == 403 and r.json()["error"] == "comment_required"
    assert api.get(url, params={"download": 1}).status_code == 403
    assert api.get(url, headers={"Range": "bytes=100-"}).status_code == 403
    # someone else's comment does not count
    other = TestClient(
        api.app,
        headers={"Authorization": f"Bearer {api.app.state.portal.tokens.create('other')[1]}"},
    )
    assert (
        other.post(f"/api/v1/recordings/{rec.id}/notes", json={"text": "mine"}).status_code == 201
    )
    assert api.get(url).status_code == 403
    assert (
        api.post(f"/api/v1/recordings/{rec.id}/notes", json={"text": "QA look"}).status_code == 201
    )
    ok = api.get(url)
    assert ok.status_code == 200 and ok.content[:4] == b"RIFF"
    # a player's seek and a second play within five minutes need no new comment
    clock.advance(minutes=2)
    assert api.get(url, headers={"Range": "bytes=100-199"}).status_code == 206
    assert api.get(url).status_code == 200
    # after the window (5 min + the call's length from the first play) a new comment is needed
    clock.advance(minutes=3, seconds=2)
    assert api.get(url).json()["error"] == "comment_required"
    api.post(f"/api/v1/recordings/{rec.id}/notes", json={"text": "second listen"})
    assert api.get(url).status_code == 200
    notes = api.get(f"/api/v1/recordings/{rec.id}/notes").json()["items"]
    assert [n["author"] for n in notes].count("token:qa-tests") == 2
    trail = Audit(catalog).list(AuditFilter(resource=f"recording:{rec.id}"), limit=100)
    assert Counter(e.action for e in trail)["audio_blocked"] == 5


def test_a_range_request_cannot_use_a_comment_without_starting_the_window(
    api, catalog, clock, tmp_path
):
    forced(catalog)
    (rec,) = add_calls(catalog, tmp_path, clock(), [{"from_number": "+1555", "to_number": "100"}])
    url = f"/api/v1/recordings/{rec.id}/audio"
    api.post(f"/api/v1/recordings/{rec.id}/notes", json={"text": "look"})
    assert api.get(url, headers={"Range": "bytes=1-"}).status_code == 206
    clock.advance(minutes=6)
    assert api.get(url, headers={"Range": "bytes=1-"}).status_code == 403


def test_portal_player_shows_the_comment_form_and_unblocks_after_a_comment(
    app, admin, catalog, clock, tmp_path
):
    forced(catalog)
    (rec,) = add_calls(catalog, tmp_path, clock(), [{"from_number": "+1555", "to_number": "100"}])
    client = logged_in(app, admin, clock)
    page = client.get(f"/recordings/{rec.id}")
    assert 'id="comment-gate"' in page.text and 'id="player"' not in page.text
    assert client.get(f"/recordings/{rec.id}/audio").status_code == 403
    assert client.get(f"/recordings/{rec.id}/audio?download=1").status_code == 403
    r = client.post(
        f"/recordings/{rec.id}/comment",
        data={"text": "customer asked for refund", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/recordings/{rec.id}")
    assert 'id="player"' in page.text and "customer asked for refund" in page.text
    assert admin.email in page.text
    assert client.get(f"/recordings/{rec.id}/audio").status_code == 200
    # the comment form is CSRF-protected like every page form
    assert client.post(f"/recordings/{rec.id}/comment", data={"text": "x"}).status_code == 403


def _calls(catalog, tmp_path, clock, n: int = 40):
    rnd = random.Random(15)
    specs = []
    for _ in range(n):
        specs.append(
            {
                "from_number": rnd.choice(["+1555", "101", "102", "200"]),
                "to_number": rnd.choice(["100", "101", "300"]),
                "direction": rnd.choice(["inbound", "outbound", "internal"]),
            }
        )
    recs = add_calls(catalog, tmp_path, clock(), specs)
    # spread over three days with varied durations (independent of the report code)
    from datetime import timedelta

    for i, rec in enumerate(recs):
        started = clock() + timedelta(days=i % 3, minutes=i)
        catalog.update_recording(rec.id, started_at=started, duration_seconds=float(10 + i))
    return [catalog.get_recording(r.id) for r in recs]


def test_reports_match_an_independent_count_in_every_format(
    api, app, catalog, clock, tmp_path, make_user
):
    make_user("u101@example.com", "user", numbers=["101"])
    make_user("u102@example.com", "user", numbers=["102"])
    make_user("sup@example.com", "supervisor", numbers=["200"], group_numbers=["101", "102"])
    recs = _calls(catalog, tmp_path, clock)
    by_day = Counter(r.started_at.strftime("%Y-%m-%d") for r in recs)
    j = api.get("/api/v1/reports/calls", params={"group_by": "day"}).json()
    assert {row["key"]: row["calls"] for row in j["rows"]} == dict(by_day)
    total = api.get("/api/v1/reports/calls", params={"group_by": "all"}).json()["rows"][0]
    assert total["calls"] == len(recs)
    assert total["total_seconds"] == pytest.approx(sum(r.duration_seconds for r in recs))
    assert total["inbound"] == sum(r.direction.value == "inbound" for r in recs)
    assert total["outbound"] == sum(r.direction.value == "outbound" for r in recs)
    users = {
        row["key"]: row
        for row in api.get("/api/v1/reports/calls", params={"group_by": "user"}).json()["rows"]
    }
    for email, num in (("u101@example.com", "101"), ("u102@example.com", "102")):
        mine = [r for r in recs if num in (r.from_number, r.to_number)]
        assert users[email]["calls"] == len(mine)
        assert users[email]["average_seconds"] == pytest.approx(
            sum(r.duration_seconds for r in mine) / len(mine), abs=1e-3
        )
    groups = api.get("/api/v1/reports/calls", params={"group_by": "group"}).json()["rows"]
    assert groups == [
        {
            **groups[0],
            "key": "sup@example.com",
            "calls": sum(1 for r in recs if {"101", "102"} & {r.from_number, r.to_number}),
        }
    ]
    # a one-day period
    day = sorted(by_day)[1]
    one = api.get("/api/v1/reports/calls", params={"since": day, "until": day}).json()["rows"][0]
    assert one["calls"] == by_day[day]
    # CSV and XLSX carry the same rows
    text = api.get("/api/v1/reports/calls", params={"group_by": "day", "format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["key"]: int(r["calls"]) for r in rows} == dict(by_day)
    x = api.get("/api/v1/reports/calls", params={"group_by": "day", "format": "xlsx"})
    ws = load_workbook(io.BytesIO(x.content)).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0][:6] == (
        "key",
        "calls",
        "total_seconds",
        "average_seconds",
        "inbound",
        "outbound",
    )
    assert values[0] == tuple(next(csv.reader(io.StringIO(text))))
    assert {v[0]: v[1] for v in values[1:]} == dict(by_day)
    # bad input: a one-line reason
    bad = api.get("/api/v1/reports/calls", params={"group_by": "weekday"})
    assert bad.status_code == 400 and "group_by" in bad.json()["reason"]
    assert api.get("/api/v1/reports/calls", params={"since": "yesterday"}).status_code == 400
    assert api.get("/api/v1/reports/calls", params={"format": "pdf"}).status_code == 400


def test_dashboard_counts_and_is_scoped_to_the_viewer(
    api, app, catalog, clock, tmp_path, make_user
):
    sup = make_user("sup@example.com", "supervisor", numbers=["200"], group_numbers=["101"])
    recs = _calls(catalog, tmp_path, clock)
    d = api.get("/api/v1/dashboard").json()
    assert sum(x["calls"] for x in d["calls_per_day"]) == len(recs) == d["total_calls"]
    assert d["average_duration_seconds"] == pytest.approx(
        sum(r.duration_seconds for r in recs) / len(recs), abs=1e-3
    )
    assert d["active_calls"] == 0
    # the default period is the last 30 days; an older call counts only when asked for
    add_calls(catalog, tmp_path, clock() - timedelta(days=40), [{"to_number": "100"}])
    assert api.get("/api/v1/dashboard").json()["total_calls"] == len(recs)
    assert (
        api.get("/api/v1/dashboard", params={"since": "2020-01-01"}).json()["total_calls"]
        == len(recs) + 1
    )
    assert d["calls_by_direction"] == dict(Counter(r.direction.value for r in recs))
    # the supervisor's dashboard page counts only the calls of their group and own number
    theirs = [r for r in recs if {"101", "200"} & {r.from_number, r.to_number}]
    client = logged_in(app, sup, clock)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert f'<dd id="total-calls">{len(theirs)}</dd>' in page.text
    assert page.text.count("<svg") == 6 and "<script" not in page.text.split("</head>")[1]
    report = client.get("/reports", params={"group_by": "all", "format": "csv"})
    assert next(iter(csv.DictReader(io.StringIO(report.text))))["calls"] == str(len(theirs))


def test_active_calls_come_from_the_recorders_live_directory(api, catalog):
    live = catalog.settings.resolved_data_dir / "recorder" / "live"
    live.mkdir(parents=True)
    (live / "a.rec").write_bytes(b"")
    (live / "a.json").write_text('{"from_number": "101", "to_number": "300"}')
    (live / "b.rec").write_bytes(b"")
    (live / "b.json").write_text('{"from_number": "102", "to_number": "300", "private": true}')
    # a token sees every call except private ones
    assert api.get("/api/v1/dashboard").json()["active_calls"] == 1


def test_call_page_lists_its_activity_verify_button_and_audit_csv(
    app, admin, catalog, clock, tmp_path
):
    (rec,) = add_calls(catalog, tmp_path, clock(), [{"from_number": "+1555", "to_number": "100"}])
    client = logged_in(app, admin, clock)
    assert client.get(f"/recordings/{rec.id}/audio").status_code == 200
    assert client.get(f"/recordings/{rec.id}/audio?download=1").status_code == 200
    page = client.get(f"/recordings/{rec.id}")
    r = client.post(
        f"/recordings/{rec.id}/verify", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert r.headers["location"].endswith("?verify=intact#integrity")
    page = client.get(r.headers["location"])
    assert 'id="verify-result"' in page.text and "Verified: intact" in page.text
    activity = page.text.split('id="activity-list"')[1].split("</table>")[0]
    for action in ("playback", "download", "verify", "view"):
        assert f"<td>{action}</td>" in activity
    # tamper with the file: the button says so, and the trail records the failed check
    p = catalog.store.local_path(rec.file_key)
    p.write_bytes(p.read_bytes()[:-1] + b"\x01")
    r = client.post(f"/recordings/{rec.id}/verify", data={"csrf": csrf_of(page.text)})
    assert "Verified: altered" in r.text
    csv_text = client.get(
        "/audit/export.csv", params={"resource": f"recording:{rec.id}", "action": "verify"}
    ).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [(x["action"], x["outcome"]) for x in rows] == [("verify", "failed"), ("verify", "ok")]
    assert "altered" in rows[0]["detail"]
