"""Legal holds in the portal: place by id and in bulk from a search, with a reason, audited;
release with a reason; a held recording survives a retention run, an unheld expired one does
not; the retention report page and its CSV; supervisors read only."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from catalog import archive as ledger
from catalog.audit import AuditFilter
from services.archive import run_retention
from tests.portal.portal_support import add_calls, csrf_of, logged_in


def _old_calls(catalog, tmp_path, clock, specs):
    return add_calls(catalog, tmp_path, clock.now - timedelta(days=90), specs)


def test_hold_by_id_survives_retention_release_audited(app, admin_client, catalog, clock, tmp_path):
    held, gone = _old_calls(
        catalog,
        tmp_path,
        clock,
        [
            {"from_number": "+15550001", "to_number": "100"},
            {"from_number": "+15550002", "to_number": "101"},
        ],
    )
    page = admin_client.get("/legal-holds")
    assert "No recording is on hold." in page.text
    csrf = csrf_of(page.text)
    r = admin_client.post(
        "/legal-holds", data={"csrf": csrf, "reason": "", "recording_ids": held.id}
    )
    assert r.status_code == 400 and "needs a reason" in r.text  # a hold needs a reason
    r = admin_client.post(
        "/legal-holds",
        data={"csrf": csrf, "reason": "Case 42 / subpoena", "recording_ids": held.id},
    )
    assert r.status_code == 200 and "1 recording(s) put on hold" in r.text
    assert f'data-recording="{held.id}"' in r.text and "Case 42 / subpoena" in r.text
    # the report shows what retention would do
    report = admin_client.get("/retention")
    assert "held: 1" in report.text and "delete: 1" in report.text
    rows = list(csv.DictReader(io.StringIO(admin_client.get("/retention.csv").text)))
    assert {r["recording_id"]: r["action"] for r in rows} == {held.id: "held", gone.id: "delete"}
    # a retention run: the held call stays, the other goes
    rep = run_retention(catalog, now=clock.now, actor="test")
    assert rep.deleted == 1
    assert catalog.get_recording(held.id) is not None and catalog.get_recording(gone.id) is None
    # release needs a reason too; then the hold is gone
    r = admin_client.post(f"/legal-holds/{held.id}/release", data={"csrf": csrf, "reason": " "})
    assert r.status_code == 400
    r = admin_client.post(
        f"/legal-holds/{held.id}/release", data={"csrf": csrf, "reason": "case closed"}
    )
    assert r.status_code == 200 and "Hold released." in r.text
    assert not ledger.held_ids(catalog.db, [held.id])
    entries = app.state.portal.audit.list(AuditFilter(resource=f"recording:{held.id}"))
    got = {(e.action, e.detail) for e in entries}
    assert ("legal_hold.place", "Case 42 / subpoena") in got
    assert ("legal_hold.release", "case closed") in got


def test_bulk_hold_from_a_search(app, admin_client, catalog, clock, tmp_path):
    recs = _old_calls(
        catalog,
        tmp_path,
        clock,
        [
            {"from_number": "+15550001", "to_number": "100"},
            {"from_number": "+15550001", "to_number": "102"},
            {"from_number": "+15550009", "to_number": "103"},
        ],
    )
    csrf = csrf_of(admin_client.get("/legal-holds").text)
    r = admin_client.post(
        "/legal-holds", data={"csrf": csrf, "reason": "dispute", "number": "+15550001"}
    )
    assert "2 recording(s) put on hold" in r.text
    assert ledger.held_ids(catalog.db) == {recs[0].id, recs[1].id}
    again = admin_client.post(
        "/legal-holds", data={"csrf": csrf, "reason": "dispute", "number": "+15550001"}
    )
    assert again.status_code == 400 and "2 already held" in again.text
    none = admin_client.post(
        "/legal-holds", data={"csrf": csrf, "reason": "x", "recording_ids": "not-a-recording"}
    )
    assert none.status_code == 400 and "1 not found" in none.text


def test_supervisor_reads_only(app, make_user, catalog, clock, tmp_path):
    (rec,) = _old_calls(catalog, tmp_path, clock, [{"from_number": "+1", "to_number": "100"}])
    sup = logged_in(app, make_user("sup@example.com", "supervisor", group_numbers=["100"]), clock)
    page = sup.get("/legal-holds")
    assert page.status_code == 200 and 'id="place-hold"' not in page.text
    r = sup.post(
        "/legal-holds", data={"csrf": csrf_of(page.text), "reason": "x", "recording_ids": rec.id}
    )
    assert r.status_code == 403 and not ledger.held_ids(catalog.db)
    assert sup.get("/retention.csv").status_code == 200
    # neither a hold from the recording page nor a retention run
    csrf = csrf_of(sup.get(f"/recordings/{rec.id}").text)
    assert 'id="hold-form"' not in sup.get(f"/recordings/{rec.id}").text
    assert (
        sup.post(f"/recordings/{rec.id}/hold", data={"csrf": csrf, "reason": "x"}).status_code
        == 403
    )
    report = sup.get("/retention")
    assert 'id="retention-run"' not in report.text
    assert sup.post("/retention/run", data={"csrf": csrf}).status_code == 403
    assert catalog.get_recording(rec.id) is not None and not ledger.held_ids(catalog.db)


def test_hold_from_the_recording_page_survives_a_portal_retention_run(
    app, admin_client, catalog, clock, tmp_path
):
    held, gone = _old_calls(
        catalog,
        tmp_path,
        clock,
        [{"from_number": "+15550001", "to_number": "100"}, {"from_number": "+2", "to_number": "1"}],
    )
    page = admin_client.get(f"/recordings/{held.id}")
    assert 'id="hold-form"' in page.text
    csrf = csrf_of(page.text)
    r = admin_client.post(f"/recordings/{held.id}/hold", data={"csrf": csrf, "reason": " "})
    assert r.status_code == 400 and not ledger.held_ids(catalog.db)  # a hold needs a reason
    r = admin_client.post(
        f"/recordings/{held.id}/hold",
        data={"csrf": csrf, "reason": "Case 9"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "Put on legal hold." in r.text
    assert 'id="holds-on-call"' in r.text and "Case 9" in r.text and 'id="hold-form"' not in r.text
    assert ledger.held_ids(catalog.db) == {held.id}
    assert (
        admin_client.post("/recordings/nope/hold", data={"csrf": csrf, "reason": "x"}).status_code
        == 404
    )
    # retention started from the portal: audited with its summary; the held call stays
    r = admin_client.post("/retention/run", data={"csrf": csrf})
    assert r.status_code == 200 and "retention: deleted 1 recording(s)" in r.text
    assert catalog.get_recording(held.id) is not None and catalog.get_recording(gone.id) is None
    runs = app.state.portal.audit.list(AuditFilter(action="retention.run"))
    assert [e.detail.rsplit(" (", 1)[0] for e in runs] == [
        "retention: deleted 1 recording(s), 1 expired but on hold"
    ]
    placed = app.state.portal.audit.list(AuditFilter(resource=f"recording:{held.id}"))
    assert ("legal_hold.place", "Case 9") in {(e.action, e.detail) for e in placed}
