"""Headless Chromium (Playwright, /usr/bin/chromium) against a real uvicorn server: log in with
TOTP enrolment, add a webhook connector and test it against a local fake, switch it off, edit a
keyword rule, and the forced-comments/reviews exclusion. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest

from catalog.audit import AuditFilter
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.users import Users
from portal.app import create_app
from portal.settings import PortalSettings
from tests.portal.portal_support import add_calls, add_transcript
from tests.support import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECFLOW_SECRET_KEY", "browser-test-secret")
    from catalog.settings import get_settings

    get_settings.cache_clear()
    catalog = Catalog.open(RecflowSettings())
    app = create_app(catalog, PortalSettings(allow_list_cache_seconds=0))
    with serve_in_thread(app, _free_port()) as base:
        yield base, catalog, app
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def httpserver_listen_address():  # type: ignore[no-untyped-def]
    return ("127.0.0.1", 0)


@pytest.fixture
def fake_webhook(httpserver):  # type: ignore[no-untyped-def]
    httpserver.expect_request("/hook", method="HEAD").respond_with_data("", status=200)
    return httpserver.url_for("/hook")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_admin_journey_in_chromium(server, fake_webhook, tmp_path):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    base, catalog, app = server
    new = Users(catalog).create("admin@example.com", "admin")
    rec = add_calls(
        catalog, tmp_path, datetime.now(UTC), [{"from_number": "+15550001", "to_number": "100"}]
    )[0]
    add_transcript(catalog, rec, word_probabilities=(0.93, 0.28))  # the callee line unsure

    with sync_playwright() as p:
        # Playwright gives every launch a fresh temporary profile (no --user-data-dir needed)
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            page.goto(base + "/")
            expect(page).to_have_url(re.compile(r"/login"))
            _shot(page, "01-login")
            page.fill("#email", new.user.email)
            page.fill("#password", new.password)
            page.click("button[type=submit]")
            expect(page.locator("#totp-secret")).to_be_visible()
            assert page.locator("img.qr").get_attribute("src").startswith("data:image/svg+xml")
            _shot(page, "02-enrol-totp")
            # the manual key, as a person would type it into an authenticator app
            secret = page.locator("#totp-secret").inner_text().replace(" ", "")
            page.fill("#code", pyotp.TOTP(secret).now())
            page.click("button[type=submit]")
            expect(page.locator("#recovery-codes li")).to_have_count(10)
            _shot(page, "03-recovery-codes")
            page.click("text=Continue")
            expect(page.locator("h1")).to_have_text("Recordings")
            _shot(page, "04-recordings")

            page.click(f"a[href='/recordings/{rec.id}']")
            expect(page.locator(".transcript")).to_contain_text("cancel my subscription")
            # the line the engine was unsure of is shown faded, with how sure in its tooltip
            unsure = page.locator(".seg.low-confidence .text")
            expect(unsure).to_have_text("Sorry to hear that")
            expect(unsure).to_have_attribute("title", re.compile(r"Low confidence \(28 %\)"))
            assert unsure.evaluate("e => getComputedStyle(e).fontStyle") == "italic"
            expect(page.locator(".seg.low-confidence")).to_have_count(1)
            _shot(page, "05-recording")

            # connector: add a webhook pointing at the fake, test it, switch it off
            page.goto(base + "/connectors?kind=webhook")
            page.fill("#cf-name", "ops-hook")
            page.fill("#cf-url", fake_webhook)
            page.fill("#cf-signing_secret", "s3cret-signing-value")
            page.click("#connector-form button[type=submit]")
            expect(page.locator("#connector-ops-hook")).to_be_visible()
            page.click("#connector-ops-hook >> text=Test")
            expect(page.locator("#check-result")).to_contain_text("ok")
            _shot(page, "06-connector-tested")
            page.click("#connector-ops-hook button.toggle")
            expect(page.locator("#connector-ops-hook button.toggle")).to_have_attribute(
                "aria-pressed", "false"
            )
            page.goto(base + "/connectors?edit=ops-hook")
            assert page.locator("#cf-signing_secret").input_value() == ""  # write-only
            assert "s3cret-signing-value" not in page.content()

            # keyword rule, edited in the same format as the config file
            page.goto(base + "/rules")
            page.fill(
                "#yaml-rules",
                "rules:\n  - name: cancellation\n    any: [cancel my subscription]\n    actions:\n      - connector: ops-hook\n",
            )
            page.click("form.panel button[type=submit]")
            expect(page.locator(".notice")).to_contain_text("change")
            expect(page.locator("table.list")).to_contain_text("cancellation")
            _shot(page, "07-rules")
            page.fill(
                "#yaml-rules",
                "rules:\n  - name: broken\n    any: [x]\n    actions:\n      - connector: nowhere\n",
            )
            page.click("form.panel button[type=submit]")
            expect(page.locator("ul.error")).to_contain_text("unknown connector")

            # forced comments vs communication reviews: the page switches the other off
            page.goto(base + "/account?tab=features")
            page.check("#forced_comments")
            page.check("#communication_reviews")
            expect(page.locator("#forced_comments")).not_to_be_checked()
            page.click("#features-form button[type=submit]")
            expect(page.locator(".notice")).to_be_visible()
            _shot(page, "08-features")
            feats = catalog.account().features
            assert feats.communication_reviews and not feats.forced_comments

            page.goto(base + "/audit")
            _shot(page, "09-audit")
            expect(page.locator("table.audit")).to_contain_text("connector:ops-hook")
        finally:
            browser.close()

    audit = app.state.portal.audit
    actions = {e.action for e in audit.list(limit=200)}
    assert {"login", "view", "config_change", "connector_test"} <= actions
    trail = str([e.model_dump() for e in audit.list(AuditFilter(resource="connector:ops-hook"))])
    assert "s3cret-signing-value" not in trail and "••••••" in trail
