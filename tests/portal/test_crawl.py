"""Crawl every route: without a session or token, and with lower roles. Nothing leaks: the
answer is a redirect to /login, 401, 403 or 404, never the content."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.portal.portal_support import add_calls, csrf_of, logged_in

# the announcement prompt is fetched by the PBX: named only by the account GUID (a wrong GUID is
# 404, tests/portal/test_announcements.py), still behind the IP allow-list
PUBLIC = {
    "/login",
    "/login/2fa",
    "/login/sso",  # single sign-on: 404 until oidc: is configured (tests/portal/test_sso_pages.py)
    "/login/sso/callback",
    "/logout",
    "/healthz",
    "/metrics",
    "/announcements/{account_guid}.wav",
}
STAFF_ONLY = {"/account", "/connectors", "/rules", "/settings", "/settings/config"}
ADMIN_ONLY = {"/audit"}


def _flat(routes):  # type: ignore[no-untyped-def]
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):  # FastAPI >= 0.16x includes routers lazily
            yield from _flat(r.original_router.routes)


def _routes(app):  # type: ignore[no-untyped-def]
    for r in _flat(app.routes):
        for m in sorted(r.methods - {"HEAD"}):
            yield m, r.path
    for r in app.state.api.routes:
        if isinstance(r, APIRoute):
            for m in sorted(r.methods - {"HEAD"}):
                yield m, "/api/v1" + r.path


def _fill(path: str, rec_id: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: rec_id if "recording" in m.group(0) else "x", path)


def test_every_route_is_gated_without_credentials(app, catalog, clock, tmp_path, admin):
    rec = add_calls(catalog, tmp_path, clock.now, [{"from_number": "1", "to_number": "2"}])[0]
    routes = list(_routes(app))
    assert len(routes) >= 20, routes
    anon = TestClient(app, follow_redirects=False)
    checked = 0
    for method, path in routes:
        if path in PUBLIC:
            continue
        url = _fill(path, rec.id)
        # a real CSRF token, so the auth check (not the CSRF check) is what answers
        token = csrf_of(anon.get("/login").text)
        r = anon.request(method, url, data={"csrf": token} if method == "POST" else None)
        if path.startswith("/api/"):
            assert r.status_code == 401, (method, url, r.status_code)
            assert rec.id not in r.text
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (
                method,
                url,
                r.status_code,
            )
        checked += 1
    assert checked >= 15


def test_lower_roles_see_only_what_they_may(app, catalog, clock, tmp_path, make_user):
    own, other, private_other = add_calls(
        catalog,
        tmp_path,
        clock.now,
        [
            {"from_number": "+15550001", "to_number": "201"},
            {"from_number": "+15550002", "to_number": "202"},
            {"from_number": "+15550003", "to_number": "203", "private": True},
        ],
    )
    user = make_user("user@example.com", "user", numbers=["201"])
    sup = make_user(
        "sup@example.com", "supervisor", numbers=["200"], group_numbers=["201", "202", "203"]
    )
    uc = logged_in(app, user, clock, follow_redirects=False)
    for path in STAFF_ONLY | ADMIN_ONLY:
        r = uc.get(path)
        assert r.status_code == 403 or (
            r.status_code == 303 and uc.get(r.headers["location"]).status_code == 403
        ), path
    listing = uc.get("/recordings").text
    assert own.id in listing and other.id not in listing
    assert uc.get(f"/recordings/{other.id}").status_code == 404
    assert uc.get(f"/recordings/{other.id}/audio").status_code == 404

    sc = logged_in(app, sup, clock, follow_redirects=False)
    assert sc.get("/account").status_code == 200  # read-only view
    assert sc.get("/audit").status_code == 403
    listing = sc.get("/recordings").text
    assert own.id in listing and other.id in listing and private_other.id not in listing
    assert sc.get(f"/recordings/{private_other.id}").status_code == 404
    csrf = csrf_of(sc.get("/account").text)
    for path, data in [
        ("/account/features", {"transcription": "on"}),
        ("/account/security", {"ip_allow_list": "10.0.0.0/8"}),
        ("/account/tokens", {"name": "sneaky"}),
        ("/settings/config/account", {"yaml": "account: {legal_hold: true}"}),
    ]:
        assert sc.post(path, data={**data, "csrf": csrf}).status_code == 403, path
    assert catalog.account().ip_allow_list == [] and not catalog.account().legal_hold
    assert app.state.portal.tokens.list() == []
