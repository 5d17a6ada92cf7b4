"""The portal over HTTP: login with TOTP, CSRF, lockout, session expiry, allow-list, the
account tabs and what each action leaves in the audit trail."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from catalog.audit import AuditFilter
from portal.deps import SESSION_COOKIE
from tests.portal.portal_support import add_calls, add_transcript, csrf_of, logged_in, login


def test_login_requires_totp_and_enrols_with_recovery_codes(app, admin, clock):
    client = TestClient(app, client=("127.0.0.1", 5000))
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"email": admin.email, "password": admin.new.password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/login/2fa")
    # password alone is not a login
    assert client.get("/recordings", follow_redirects=False).headers["location"] == "/login/2fa"
    twofa = client.get("/login/2fa")
    assert "data:image/svg+xml;base64," in twofa.text and 'id="totp-secret"' in twofa.text
    bad = client.post("/login/2fa", data={"code": "000000", "csrf": csrf_of(twofa.text)})
    assert bad.status_code == 401
    ok = client.post("/login/2fa", data={"code": admin.code(clock), "csrf": csrf_of(twofa.text)})
    assert ok.status_code == 200 and 'id="recovery-codes"' in ok.text
    assert client.get("/recordings").status_code == 200
    cookie = next(c for c in ok.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=" in cookie
    st = app.state.portal
    actions = [e.action for e in st.audit.list(AuditFilter(initiator=admin.email))]
    assert actions[:2] == ["login", "login_failed"]
    assert all(e.client_ip == "127.0.0.1" for e in st.audit.list())


def test_recovery_code_logs_in_once(app, admin, clock):
    login(TestClient(app), admin, clock)  # enrols
    codes = app.state.portal.users.new_recovery_codes(admin.new.user.id)
    for attempt, expect in ((1, 303), (2, 401)):
        client = TestClient(app)
        page = client.get("/login")
        client.post(
            "/login",
            data={"email": admin.email, "password": admin.new.password, "csrf": csrf_of(page.text)},
        )
        page = client.get("/login/2fa")
        assert "Use a recovery code" in page.text
        r = client.post(
            "/login/2fa",
            data={"recovery": codes[0], "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == expect, attempt


def test_csrf_is_required_on_every_form(admin_client):
    r = admin_client.post("/account/features", data={"transcription": "on"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = admin_client.post("/account/features", data={"transcription": "on", "csrf": "f" * 64})
    assert r.status_code == 403
    other = TestClient(admin_client.app)  # a different browser's token is useless here
    token = csrf_of(other.get("/login").text)
    assert admin_client.post("/logout", data={"csrf": token}).status_code == 403
    assert admin_client.post("/login", data={"email": "x@y", "password": "p"}).status_code == 403


def test_lockout_after_failures(app, make_user, clock):
    bob = make_user("bob@example.com", "user")
    client = TestClient(app)
    for _ in range(3):
        page = client.get("/login")
        r = client.post(
            "/login",
            data={"email": bob.email, "password": "wrong-password-1", "csrf": csrf_of(page.text)},
        )
        assert r.status_code == 401
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"email": bob.email, "password": bob.new.password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 401, "a locked account logged in"
    clock.advance(minutes=11)
    login(client, bob, clock)
    assert client.get("/recordings").status_code == 200
    fails = app.state.portal.audit.list(AuditFilter(action="login_failed"))
    assert len(fails) == 4 and fails[0].detail == "locked"


def test_wrong_totp_codes_count_toward_lockout(app, make_user, clock):
    eve = make_user("eve@example.com", "user")
    client = TestClient(app)
    page = client.get("/login")
    client.post(
        "/login",
        data={"email": eve.email, "password": eve.new.password, "csrf": csrf_of(page.text)},
    )
    for _ in range(3):
        page = client.get("/login/2fa")
        if page.url.path != "/login/2fa":
            break
        client.post("/login/2fa", data={"code": "123456", "csrf": csrf_of(page.text)})
    assert app.state.portal.users.is_locked(eve.new.user.id, clock.now)
    assert client.get("/recordings", follow_redirects=False).status_code == 303


def test_session_expires_when_idle(app, admin, clock):
    client = logged_in(app, admin, clock)
    assert client.get("/recordings").status_code == 200
    clock.advance(minutes=31)
    r = client.get("/recordings", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_logout_ends_the_session_server_side(app, admin, clock):
    client = logged_in(app, admin, clock)
    stolen = client.cookies.get(SESSION_COOKIE)
    page = client.get("/recordings")
    client.post("/logout", data={"csrf": csrf_of(page.text)})
    replay = TestClient(app, cookies={SESSION_COOKIE: stolen})
    assert replay.get("/recordings", follow_redirects=False).status_code == 303


def test_open_redirect_refused(app, admin, clock):
    client = TestClient(app)
    login(client, admin, clock, next_="//evil.example/x")
    page = client.get("/login?next=https://evil.example")
    assert 'value="/recordings"' in page.text


def test_allow_list_enforced_on_pages_and_api_with_trusted_proxy(app, admin, clock, catalog):
    st = app.state.portal
    _, token = st.tokens.create("t")
    acct = catalog.account()
    acct.ip_allow_list = ["192.0.2.0/24"]
    catalog.save_account(acct)
    outside = TestClient(app, client=("198.51.100.5", 1000))
    assert outside.get("/login").status_code == 403
    r = outside.get("/api/v1/recordings", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    # a forged header from an untrusted peer changes nothing
    assert outside.get("/login", headers={"X-Forwarded-For": "192.0.2.9"}).status_code == 403
    inside = TestClient(app, client=("192.0.2.44", 1000))
    assert inside.get("/login").status_code == 200
    assert (
        inside.get("/api/v1/recordings", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    assert outside.get("/healthz").status_code == 200  # liveness probes are not gated


def test_allow_list_behind_trusted_proxy(catalog, clock):
    from portal.app import create_app
    from portal.settings import PortalSettings

    app = create_app(
        catalog,
        PortalSettings(trusted_proxies=["10.0.0.0/8"], allow_list_cache_seconds=0),
        clock=clock,
    )
    acct = catalog.account()
    acct.ip_allow_list = ["192.0.2.0/24"]
    catalog.save_account(acct)
    proxy = TestClient(app, client=("10.1.1.1", 1000))
    assert proxy.get("/login", headers={"X-Forwarded-For": "192.0.2.8"}).status_code == 200
    assert proxy.get("/login", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 403


def test_allow_list_form_warns_before_locking_admin_out(admin_client, catalog):
    page = admin_client.get("/account?tab=security")
    csrf = csrf_of(page.text)
    r = admin_client.post("/account/security", data={"ip_allow_list": "192.0.2.0/24", "csrf": csrf})
    assert r.status_code == 409 and "127.0.0.1" in r.text
    assert catalog.account().ip_allow_list == []
    r = admin_client.post("/account/security", data={"ip_allow_list": "not-an-ip", "csrf": csrf})
    assert r.status_code == 400
    r = admin_client.post(
        "/account/security", data={"ip_allow_list": "127.0.0.0/8\n192.0.2.1", "csrf": csrf}
    )
    assert r.status_code == 200
    assert catalog.account().ip_allow_list == ["127.0.0.0/8", "192.0.2.1/32"]


def test_forced_comments_and_reviews_exclude_each_other(app, admin_client, catalog):
    csrf = csrf_of(admin_client.get("/account?tab=features").text)
    base = {"transcription": "on", "announcements": "none", "csrf": csrf}
    admin_client.post("/account/features", data={**base, "forced_comments": "on"})
    assert catalog.account().features.forced_comments
    r = admin_client.post(
        "/account/features", data={**base, "forced_comments": "on", "communication_reviews": "on"}
    )
    assert "forced comments were switched off" in r.text
    f = catalog.account().features
    assert f.communication_reviews and not f.forced_comments
    r = admin_client.post(
        "/account/features", data={**base, "forced_comments": "on", "communication_reviews": "on"}
    )
    f = catalog.account().features
    assert f.forced_comments and not f.communication_reviews
    changes = [
        c.field
        for e in app.state.portal.audit.list(AuditFilter(action="config_change"))
        for c in e.changes
    ]
    assert "account.features.communication_reviews" in changes


def test_config_export_reflects_portal_edits(admin_client, catalog):
    from services.config.document import export_document

    csrf = csrf_of(admin_client.get("/account").text)
    admin_client.post("/account/general", data={"name": "Acme Support", "csrf": csrf})
    admin_client.post("/account/retention", data={"legal_hold": "on", "csrf": csrf})
    doc = export_document(catalog)
    assert doc["account"]["name"] == "Acme Support" and doc["account"]["legal_hold"] is True


def test_token_page_shows_token_once_and_revokes(app, admin_client):
    csrf = csrf_of(admin_client.get("/account?tab=integrations").text)
    r = admin_client.post("/account/tokens", data={"name": "zapier", "csrf": csrf})
    import re

    token = re.search(r'id="new-token">([^<]+)<', r.text).group(1)
    assert (
        TestClient(app)
        .get("/api/v1/recordings", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 200
    )
    page = admin_client.get("/account?tab=integrations")
    assert token not in page.text
    tok = app.state.portal.tokens.list()[0]
    admin_client.post(f"/account/tokens/{tok.id}/revoke", data={"csrf": csrf})
    assert (
        TestClient(app)
        .get("/api/v1/recordings", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 401
    )


def test_recordings_list_detail_playback_audited(app, admin_client, catalog, clock, tmp_path):
    recs = add_calls(
        catalog,
        tmp_path,
        clock.now,
        [
            {"from_number": "+15550001", "to_number": "100"},
            {"from_number": "+15550002", "to_number": "101"},
        ],
    )
    add_transcript(catalog, recs[0])
    page = admin_client.get("/recordings?number=%2B15550001")
    assert recs[0].id in page.text and recs[1].id not in page.text
    detail = admin_client.get(f"/recordings/{recs[0].id}")
    assert "I want to cancel my subscription" in detail.text and "callee" in detail.text
    full = admin_client.get(f"/recordings/{recs[0].id}/audio")
    assert full.status_code == 200 and full.headers["content-type"] == "audio/wav"
    part = admin_client.get(f"/recordings/{recs[0].id}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    dl = admin_client.get(f"/recordings/{recs[0].id}/audio?download=1")
    assert "attachment" in dl.headers["content-disposition"]
    audit = app.state.portal.audit
    acts = [e.action for e in audit.list(AuditFilter(resource=f"recording:{recs[0].id}"))]
    # the continuation range request is not a second playback
    assert acts == ["download", "playback", "view"]


def test_low_confidence_segments_are_shown_faded(app, admin_client, catalog, clock, tmp_path):
    """Issue 13: a segment whose words the engine was unsure of (mean probability under
    catalog.models.LOW_CONFIDENCE) is marked for the eye and for screen readers; a sure one and
    one without word probabilities are not."""
    from catalog.models import Speaker, Transcript, TranscriptSegment, Word

    def words(text: str, p: float) -> list[Word]:
        return [
            Word(word=w, start=i, end=i + 0.5, probability=p) for i, w in enumerate(text.split())
        ]

    (rec,) = add_calls(catalog, tmp_path, clock.now, [{"from_number": "+15550001"}])
    segments = [
        ("I want to cancel", 0.92, 0.0),
        ("honor the flyer", 0.31, 2.0),
        ("no words given", None, 4.0),
    ]
    catalog.save_transcript(
        Transcript(
            recording_id=rec.id,
            engine="test",
            segments=[
                TranscriptSegment(
                    speaker=Speaker.caller,
                    channel=0,
                    start=start,
                    end=start + 1.5,
                    text=text,
                    words=words(text, p) if p is not None else [],
                )
                for text, p, start in segments
            ],
        )
    )
    html = admin_client.get(f"/recordings/{rec.id}").text
    items = re.findall(r'<li class="seg ([^"]*)"[^>]*>(.*?)</li>', html, re.S)
    by_text = {next(t for t, _p, _s in segments if t in body): cls for cls, body in items}
    assert "low-confidence" in by_text["honor the flyer"]
    assert "low-confidence" not in by_text["I want to cancel"]
    assert "low-confidence" not in by_text["no words given"]
    assert 'title="Low confidence (31 %): check by listening"' in html
    assert html.count("(low confidence)") == 1
