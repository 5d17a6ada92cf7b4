"""Single sign-on in headless Chromium against a real OpenID provider (npm `oidc-provider`,
tests/fakes/oidc_provider.mjs): the login page's button, the provider's login and consent, back
at the portal logged in -- the user created with the default role and the groups the provider
names; an "SSO only" account refused by the password form; a callback with the wrong state, an
ID token with the wrong nonce, a replayed callback and a disabled account refused; the IP
allow-list in front of the SSO routes. One provider and one portal for the module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from catalog import keys
from catalog.audit import Audit, AuditFilter
from catalog.directory import Directory
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.users import Users
from portal.app import create_app
from portal.settings import PortalSettings
from services import sso
from services.config.base import ApplyContext
from tests.fakes.oidc import OidcProvider, skip_unless_available
from tests.portal.test_browser import ARGS, CHROMIUM, _free_port, _shot
from tests.support import serve_in_thread

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")

CLIENT_SECRET = "sso-test-client-secret-0123456789abcdef"
PASSWORD = "provider-password-1"
ACCOUNTS = {
    "ann": {"password": PASSWORD, "email": "Ann@Example.com", "groups": ["sales", "board-x"]},
    "bob": {"password": PASSWORD, "email": "bob@example.com", "groups": ["support"]},
    "cat": {"password": PASSWORD, "email": "cat@example.com", "groups": []},
    "dan": {"password": PASSWORD, "email": "dan@example.com", "groups": []},
    "eve": {"password": PASSWORD, "email": "eve@example.com", "groups": []},
}


class Env:
    def __init__(self, base: str, catalog: Catalog, provider: OidcProvider) -> None:
        self.base = base
        self.catalog = catalog
        self.provider = provider


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    skip_unless_available()
    tmp = tmp_path_factory.mktemp("sso")
    port = _free_port()
    provider = OidcProvider(
        "recflow-portal",
        CLIENT_SECRET,
        [f"http://127.0.0.1:{port}/login/sso/callback"],
        ACCOUNTS,
        tmp,
    ).start()
    catalog = Catalog.open(RecflowSettings(data_dir=tmp / "data", secret_key="sso-test-key"))
    d = Directory(catalog)
    d.upsert_group("sales")
    d.upsert_group("support")
    _apply(catalog, provider.issuer, {"SSO_TEST_SECRET": CLIENT_SECRET})
    sso.clear_caches()
    app = create_app(catalog, PortalSettings(allow_list_cache_seconds=0))
    try:
        with serve_in_thread(app, port) as base:
            yield Env(base, catalog, provider)
    finally:
        provider.stop()
        catalog.db.dispose()


def _apply(catalog: Catalog, issuer: str, environ: dict[str, str]) -> None:
    from services.config.document import sections

    doc = {
        "oidc": {
            "issuer": issuer,
            "client_id": "recflow-portal",
            "client_secret": "${SSO_TEST_SECRET}",
            "default_role": "supervisor",
            "groups_claim": "groups",
            "scopes": ["openid", "email", "groups"],
        }
    }
    ctx = ApplyContext(catalog=catalog, document=doc, environ=environ)
    section = next(s for s in sections() if s.key == "oidc")
    assert section.apply(section.validate(doc["oidc"], ctx), ctx)


def _reseal_flow(page: Any, env: Env, **changes: str) -> None:
    import json

    fernet = env.catalog.settings.keyring().fernet(keys.SSO_FLOW)
    cookie = next(c for c in page.context.cookies() if c["name"] == "rf_sso")
    flow = json.loads(fernet.decrypt(cookie["value"].encode()))
    cookie["value"] = fernet.encrypt(json.dumps({**flow, **changes}).encode()).decode()
    page.context.add_cookies([cookie])


@contextmanager
def _page() -> Iterator[Any]:
    """A fresh headless Chromium page (its own cookies), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            yield page
        finally:
            browser.close()


def _provider_login(page: Any, login: str, password: str = PASSWORD) -> None:
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.click("button[type=submit]")  # the consent form: Continue


def test_sso_login_creates_the_user_with_role_and_groups(env: Env) -> None:
    from playwright.sync_api import expect

    with _page() as page:
        page.goto(env.base + "/reports")
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.locator("#sso-login")).to_have_text("Sign in with single sign-on")
        _shot(page, "sso-01-login")
        page.click("#sso-login")
        expect(page).to_have_url(re.compile(re.escape(env.provider.issuer) + "/interaction/"))
        _shot(page, "sso-02-provider-login")
        _provider_login(page, "ann")
        expect(page).to_have_url(env.base + "/reports")  # back where the person was going
        expect(page.locator("a.who")).to_have_text("ann@example.com (supervisor)")
        _shot(page, "sso-03-logged-in")
        # the session is a full one: other pages open without a second factor
        page.goto(env.base + "/me")
        expect(page.locator("dl.facts")).to_contain_text("sales")
        expect(page.locator("#sso-only-account")).to_be_visible()
        expect(page.locator("#change-password")).to_have_count(0)
        # the flow cookie is gone: the same callback cannot be replayed
        cookies = {c["name"] for c in page.context.cookies()}
        assert "rf_sso" not in cookies and "rf_session" in cookies

    ann = Users(env.catalog).by_email("ann@example.com")
    assert ann is not None and ann.role.value == "supervisor" and ann.sso_only
    assert not ann.totp_enrolled  # local 2FA untouched: the provider signs this person in
    assert Directory(env.catalog).groups_of(ann.id) == ["sales"]  # board-x is not a recflow group
    entries = Audit(env.catalog).list(AuditFilter(initiator="ann@example.com"))
    logins = [e for e in entries if e.action == "login"]
    assert logins and logins[0].detail.startswith(f"sso={env.provider.issuer}")
    created = Audit(env.catalog).list(AuditFilter(action="user.create"))
    assert any(e.resource == "user:ann@example.com" for e in created)

    # groups follow the provider at the next sign-in (and an unknown group changes nothing)
    Directory(env.catalog).set_user_groups(ann.id, ["support"])
    _http_login(env, "ann")
    assert Directory(env.catalog).groups_of(ann.id) == ["sales"]


def test_sso_only_account_cannot_use_the_password_form(env: Env) -> None:
    from playwright.sync_api import expect

    users = Users(env.catalog)
    made = users.create("bob@example.com", "user")  # a local account with a known password
    users.update(made.user.id, sso_only=True)
    with _page() as page:
        page.goto(env.base + "/login")
        page.fill("#email", "bob@example.com")
        page.fill("#password", made.password)
        page.click("button[type=submit]")
        expect(page.locator("#sso-only")).to_contain_text("single sign-on only")
        _shot(page, "sso-04-sso-only-refused")
        assert "rf_session" not in {c["name"] for c in page.context.cookies()}
        # a wrong password gets the usual answer, not a hint about single sign-on
        page.fill("#email", "bob@example.com")
        page.fill("#password", "not-the-password")
        page.click("button[type=submit]")
        expect(page.locator("p.error")).to_contain_text("Wrong e-mail or password")
        expect(page.locator("#sso-only")).to_have_count(0)
        # the same person gets in through the provider
        page.click("#sso-login")
        _provider_login(page, "bob")
        expect(page.locator("a.who")).to_have_text("bob@example.com (user)")
    assert Directory(env.catalog).groups_of(made.user.id) == ["support"]


def test_wrong_state_is_refused(env: Env) -> None:
    from playwright.sync_api import expect

    with _page() as page:
        page.goto(env.base + "/login")
        page.click("#sso-login")
        # the provider will answer with the state it was given; this browser now expects
        # another one (as when an attacker's callback URL is planted in a victim's browser)
        _reseal_flow(page, env, state="another-sign-in")
        _provider_login(page, "cat")
        expect(page.locator("#sso-error")).to_contain_text("does not belong to this sign-in")
        _shot(page, "sso-05-wrong-state")
        assert "rf_session" not in {c["name"] for c in page.context.cookies()}
    assert Users(env.catalog).by_email("cat@example.com") is None
    denied = Audit(env.catalog).list(AuditFilter(action="login_failed"))
    assert any("sso: bad_state" in e.detail for e in denied)


# ---------------------------------------------------------------- the same flow over HTTP


def _http_flow(env: Env, login: str, *, forge_flow: dict[str, str] | None = None) -> httpx.Response:
    """The browser's part with httpx: start at the portal, log in at the provider, come back.
    ``forge_flow`` changes fields of the portal's (encrypted) flow cookie before the return."""
    with httpx.Client(follow_redirects=False, timeout=15) as c:
        r = c.get(env.base + "/login/sso")
        assert r.status_code == 303, r.text
        asked = parse_qs(urlsplit(r.headers["location"]).query)
        # authorization code flow with PKCE (S256); the verifier never leaves the server
        assert asked["response_type"] == ["code"] and asked["code_challenge_method"] == ["S256"]
        assert len(asked["code_challenge"][0]) == 43 and "code_verifier" not in asked
        assert asked["nonce"] and asked["state"] and asked["client_id"] == ["recflow-portal"]
        if forge_flow is not None:
            fernet = env.catalog.settings.keyring().fernet(keys.SSO_FLOW)
            import json

            flow = json.loads(fernet.decrypt(c.cookies["rf_sso"].encode()))
            sealed = fernet.encrypt(json.dumps({**flow, **forge_flow}).encode()).decode()
            c.cookies.delete("rf_sso")
            c.cookies.set("rf_sso", sealed, domain="127.0.0.1", path="/login/sso")
        url = r.headers["location"]
        while url.startswith(env.provider.issuer):  # the provider's redirects and forms
            r = c.get(url)
            if r.status_code in (302, 303):
                url = httpx.URL(url).join(r.headers["location"]).__str__()
                continue
            action = re.search(r'action="([^"]+)"', r.text)
            assert action, r.text
            form = {"prompt": re.search(r'name="prompt" value="(\w+)"', r.text).group(1)}  # type: ignore[union-attr]
            if form["prompt"] == "login":
                form.update(login=login, password=PASSWORD)
            r = c.post(httpx.URL(url).join(action.group(1)), data=form)
            assert r.status_code in (302, 303), r.text
            url = str(httpx.URL(url).join(r.headers["location"]))
        assert url.startswith(env.base + "/login/sso/callback"), url
        return c.get(url)


def _http_login(env: Env, login: str) -> None:
    r = _http_flow(env, login)
    assert r.status_code == 303 and "rf_session" in r.cookies, r.text


def test_wrong_nonce_is_refused(env: Env) -> None:
    r = _http_flow(env, "dan", forge_flow={"nonce": "not-the-nonce-the-provider-signed"})
    assert r.status_code == 401 and "rf_session" not in r.cookies
    assert "ID token does not verify" in r.text and "nonce" in r.text
    assert Users(env.catalog).by_email("dan@example.com") is None


def test_disabled_account_and_replay_are_refused(env: Env) -> None:
    made = Users(env.catalog).create("eve@example.com", "user")
    Users(env.catalog).update(made.user.id, disabled=True)
    r = _http_flow(env, "eve")
    assert r.status_code == 401 and "this account is disabled" in r.text
    Users(env.catalog).update(made.user.id, disabled=False)
    with httpx.Client(follow_redirects=False, timeout=15) as c:
        # a callback URL without the browser's flow cookie (stolen, or replayed) is refused
        r = c.get(env.base + "/login/sso/callback?code=abc&state=xyz")
        assert r.status_code == 401 and "no sign-in was started" in r.text


def test_ip_allow_list_covers_the_sso_routes(env: Env) -> None:
    acct = env.catalog.account()
    env.catalog.save_account(acct.model_copy(update={"ip_allow_list": ["192.0.2.0/24"]}))
    try:
        with httpx.Client(follow_redirects=False, timeout=15) as c:
            for path in ("/login/sso", "/login/sso/callback?code=a&state=b"):
                r = c.get(env.base + path)
                assert r.status_code == 403 and "allow-list" in r.text, path
    finally:
        env.catalog.save_account(acct)
    assert _http_flow(env, "ann").status_code == 303
