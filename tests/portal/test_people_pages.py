"""People pages: an administrator creates a person (password and QR shown once), the person logs
in, is sent to "My account" until they chose their own password, regenerates recovery codes;
a group admin manages their group only; a disabled person's browser session ends at once."""

from __future__ import annotations

import re

import pyotp
from fastapi.testclient import TestClient

from catalog.directory import Directory
from tests.portal.portal_support import csrf_of, logged_in


def _post(client: TestClient, page: str, action: str, data: dict, **kw):
    html = client.get(page).text
    return client.post(action, data={**data, "csrf": csrf_of(html)}, **kw)


def test_create_first_login_forced_password_change_and_recovery_codes(
    app, catalog, make_user, clock
):
    admin = make_user("boss@example.com", "admin")
    b = logged_in(app, admin, clock)
    r = _post(b, "/people", "/people", {"email": "new@example.com", "role": "user"})
    assert r.status_code == 200
    password = re.search(r'id="initial-password">([^<]+)<', r.text).group(1)
    secret = re.search(r"secret=([A-Z2-7]+)", r.text).group(1)
    assert "new@example.com" in b.get("/people").text

    p = TestClient(app, client=("127.0.0.1", 50001))
    clock.advance(seconds=31)
    page = p.get("/login")
    r = p.post(
        "/login",
        data={
            "email": "new@example.com",
            "password": password,
            "csrf": csrf_of(page.text),
            "next": "/recordings",
        },
        follow_redirects=False,
    )
    page = p.get(r.headers["location"])
    r = p.post(
        "/login/2fa",
        data={
            "code": pyotp.TOTP(secret).at(clock.now),
            "next": "/recordings",
            "csrf": csrf_of(page.text),
        },
    )
    assert "recovery-codes" in r.text  # enrolment shows the first codes
    r = p.get("/recordings", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me"  # forced change first
    r = _post(p, "/me", "/me/password", {"current": password, "new": "x" * 11, "again": "x" * 11})
    assert r.status_code == 400
    new_pw = "a-new-long-password"
    r = _post(p, "/me", "/me/password", {"current": password, "new": new_pw, "again": new_pw})
    assert r.status_code == 200 and "Password changed" in r.text
    assert p.get("/recordings", follow_redirects=False).status_code == 200
    r = _post(p, "/me", "/me/recovery-codes", {"current": "wrong-password-here"})
    assert r.status_code == 400
    r = _post(p, "/me", "/me/recovery-codes", {"current": new_pw})
    assert r.status_code == 200 and len(re.findall(r"<li><code>", r.text)) == 10


def test_group_admin_pages_are_scoped_and_disable_ends_sessions(app, catalog, make_user, clock):
    d = Directory(catalog)
    d.upsert_group("sales")
    d.upsert_group("support")
    ga = make_user("ga@example.com", "group_admin")
    ann = make_user("ann@example.com", "user")
    bob = make_user("bob@example.com", "user")
    d.set_user_groups(ga.new.user.id, ["sales"])
    d.set_user_groups(ann.new.user.id, ["sales"])
    d.set_user_groups(bob.new.user.id, ["support"])
    g = logged_in(app, ga, clock)
    listing = g.get("/people").text
    assert "ann@example.com" in listing and "bob@example.com" not in listing
    assert g.get(f"/people/{bob.new.user.id}").status_code == 404
    a = logged_in(app, ann, clock)
    assert a.get("/people").status_code == 403  # a user manages nobody
    assert a.get("/recordings", follow_redirects=False).status_code == 200
    r = _post(
        g,
        f"/people/{ann.new.user.id}",
        f"/people/{ann.new.user.id}",
        {"role": "user", "groups": "sales", "disabled": "on"},
    )
    assert r.status_code == 200 and "Saved" in r.text
    assert a.get("/recordings", follow_redirects=False).status_code == 303  # session ended
    r = _post(
        g,
        f"/people/{ann.new.user.id}",
        f"/people/{ann.new.user.id}",
        {"role": "admin", "groups": "sales"},
    )
    assert r.status_code == 403


def test_unrecorded_call_page_shows_the_decision_and_no_player(app, catalog, make_user, clock):
    from catalog.models import Recording, RecordingStatus

    rec = catalog.add_recording(
        Recording(
            from_number="+441632960555",
            to_number="1001",
            status=RecordingStatus.not_recorded,
            metadata={"policy": {"decision": "not_recorded", "rule": "account.inbound.external"}},
        )
    )
    b = logged_in(app, make_user("boss@example.com", "admin"), clock)
    page = b.get(f"/recordings/{rec.id}").text
    assert "account.inbound.external" in page and 'id="no-audio"' in page and "<audio" not in page
    assert b.get(f"/recordings/{rec.id}/audio").status_code == 404
