"""Single sign-on in the portal without a provider: the login page shows the button only when
``oidc:`` is configured (with the configured label), the SSO routes answer 404 when it is not,
an unreachable provider gives a clear error page, and "SSO only" is set on the people page and
through /api/v1/users."""

from __future__ import annotations

from fastapi.testclient import TestClient

from catalog.users import Users
from services import sso
from services.config.base import ApplyContext
from services.config.document import sections
from tests.portal.portal_support import csrf_of, logged_in


def _configure(catalog, **extra: object) -> None:  # type: ignore[no-untyped-def]
    raw = {
        "issuer": "http://127.0.0.1:9",  # the discard port: nothing answers there
        "client_id": "recflow",
        "client_secret": "${SECRET}",
        **extra,
    }
    section = next(s for s in sections() if s.key == "oidc")
    ctx = ApplyContext(catalog=catalog, document={"oidc": raw}, environ={"SECRET": "x" * 20})
    section.apply(section.validate(raw, ctx), ctx)
    sso.clear_caches()


def test_button_only_when_configured(app, catalog):
    client = TestClient(app)
    page = client.get("/login?next=/reports").text
    assert 'id="sso-login"' not in page
    assert client.get("/login/sso", follow_redirects=False).status_code == 404
    assert client.get("/login/sso/callback?code=a&state=b").status_code == 404
    _configure(catalog, button_label="Sign in with Acme ID")
    page = client.get("/login?next=/reports").text
    assert 'href="/login/sso?next=/reports">Sign in with Acme ID</a>' in page
    _configure(catalog)
    assert ">Sign in with single sign-on</a>" in client.get("/login").text
    assert ">Entrar com login único (SSO)</a>" in client.get("/login?lang=pt_BR").text


def test_unreachable_provider_is_a_clear_error(app, catalog):
    _configure(catalog)
    r = TestClient(app).get("/login/sso", follow_redirects=False)
    assert r.status_code == 502
    assert "Single sign-on did not complete" in r.text
    assert "cannot read the provider&#39;s discovery document" in r.text


def test_sso_only_on_the_people_page_and_the_api(app, catalog, admin, make_user, clock):
    ann = make_user("ann@example.com", "user")
    b = logged_in(app, admin, clock)
    page = b.get(f"/people/{ann.new.user.id}").text
    assert 'id="sso_only" >' in page  # unticked
    r = b.post(
        f"/people/{ann.new.user.id}",
        data={"role": "user", "sso_only": "on", "csrf": csrf_of(page)},
    )
    assert r.status_code == 200, r.text
    assert Users(catalog).get(ann.new.user.id).sso_only and 'id="sso_only" checked>' in r.text
    assert "SSO only" in b.get("/people").text
    # the password form now refuses the right password with a clear message
    fresh = TestClient(app, client=("127.0.0.1", 50001))
    form = fresh.get("/login").text
    r = fresh.post(
        "/login",
        data={"email": ann.email, "password": ann.new.password, "csrf": csrf_of(form)},
        follow_redirects=False,
    )
    assert r.status_code == 401 and "single sign-on only" in r.text

    token = app.state.portal.tokens.create("server", created_by="cli:root")[1]
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    r = api.patch(f"/api/v1/users/{ann.new.user.id}", json={"sso_only": False})
    assert r.status_code == 200 and r.json()["sso_only"] is False
    r = api.post("/api/v1/users", json={"email": "new@example.com", "sso_only": True})
    assert r.status_code == 201 and r.json()["sso_only"] is True
    assert api.get("/api/v1/users/new@example.com").json()["sso_only"] is True
