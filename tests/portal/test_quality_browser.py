"""Quality journeys in headless Chromium against a real uvicorn server: a forced comment blocks
then unblocks playback; a mandatory review blocks the next play until it is done; a
supervisor's dashboard counts only their group's calls. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest

from catalog.users import Users
from services.config.document import apply_document
from tests.portal.portal_support import add_calls
from tests.portal.test_browser import ARGS, CHROMIUM, _shot, server  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")

STATUS_JS = "url => fetch(url).then(r => r.status)"


def _login(page, base: str, new) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(base + "/login")
    page.fill("#email", new.user.email)
    page.fill("#password", new.password)
    page.click("button[type=submit]")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.click("text=Continue")
    expect(page.locator("h1")).to_have_text("Recordings")


def _browser(p):  # type: ignore[no-untyped-def]
    return p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


def test_forced_comment_blocks_then_unblocks_playback(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, catalog, app = server
    apply_document(catalog, {"account": {"features": {"forced_comments": True}}})
    new = Users(catalog).create("qa@example.com", "admin")
    (rec,) = add_calls(
        catalog,
        app.state.portal.catalog.settings.resolved_data_dir,
        datetime.now(UTC),
        [{"from_number": "+15550001", "to_number": "100"}],
    )
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            _login(page, base, new)
            page.goto(f"{base}/recordings/{rec.id}")
            expect(page.locator("#comment-gate")).to_be_visible()
            expect(page.locator("#player")).to_have_count(0)
            audio = f"/recordings/{rec.id}/audio"
            assert page.evaluate(STATUS_JS, audio) == 403  # the server refuses, not the page
            _shot(page, "quality-01-comment-required")
            page.fill("#comment-text", "Checked the refund promise")
            page.click("#comment-gate button[type=submit]")
            expect(page.locator("#player")).to_be_visible()
            expect(page.locator("#notes")).to_contain_text("Checked the refund promise")
            expect(page.locator("#notes")).to_contain_text("qa@example.com")
            assert page.evaluate(STATUS_JS, audio) == 200
            # the browser's own player loads the audio
            loaded = page.locator("#player").evaluate(
                """el => new Promise(done => {
                    el.addEventListener('loadedmetadata', () => done('loaded'));
                    el.addEventListener('error', () => done('error'));
                    el.load();
                })"""
            )
            assert loaded == "loaded"
            _shot(page, "quality-02-playable")
        finally:
            browser.close()


def test_mandatory_review_blocks_the_next_play_until_done(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, catalog, _app = server
    apply_document(
        catalog,
        {
            "reviews": [
                {"name": "qa", "fields": [{"name": "polite", "type": "toggle", "weight": 1}]}
            ],
            "account": {"features": {"communication_reviews": "mandatory"}},
        },
    )
    new = Users(catalog).create("rev@example.com", "admin")
    a, b = add_calls(
        catalog,
        catalog.settings.resolved_data_dir,
        datetime.now(UTC),
        [
            {"from_number": "+15550001", "to_number": "100"},
            {"from_number": "+15550002", "to_number": "100"},
        ],
    )
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            _login(page, base, new)
            page.goto(f"{base}/recordings/{a.id}")
            expect(page.locator("#player")).to_be_visible()
            assert page.evaluate(STATUS_JS, f"/recordings/{a.id}/audio") == 200
            page.goto(f"{base}/recordings/{b.id}")
            expect(page.locator("#review-gate")).to_be_visible()
            expect(page.locator("#player")).to_have_count(0)
            assert page.evaluate(STATUS_JS, f"/recordings/{b.id}/audio") == 403
            _shot(page, "quality-03-review-required")
            page.click("#review-first")
            expect(page).to_have_url(re.compile(a.id))
            page.check("#review-qa input[type=checkbox]")
            page.click("#review-qa button[type=submit]")
            expect(page.locator("#review-list")).to_contain_text("rev@example.com")
            page.goto(f"{base}/recordings/{b.id}")
            expect(page.locator("#player")).to_be_visible()
            assert page.evaluate(STATUS_JS, f"/recordings/{b.id}/audio") == 200
            _shot(page, "quality-04-review-done")
        finally:
            browser.close()


def test_supervisors_dashboard_shows_only_their_group(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, catalog, _app = server
    users = Users(catalog)
    sup = users.create(
        "sup@example.com", "supervisor", numbers=["200"], group_numbers=["101", "102"]
    )
    now = datetime.now(UTC)
    specs = [
        {"from_number": "+1555", "to_number": "101", "direction": "inbound"},
        {"from_number": "102", "to_number": "+1666", "direction": "outbound"},
        {"from_number": "+1777", "to_number": "300", "direction": "inbound"},
        {"from_number": "+1888", "to_number": "301", "direction": "inbound"},
    ]
    add_calls(catalog, catalog.settings.resolved_data_dir, now, specs)
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            _login(page, base, sup)
            page.click("nav >> text=Dashboard")
            expect(page.locator("#total-calls")).to_have_text("2")
            charts = page.locator("svg.chart")
            expect(charts).to_have_count(6)
            label = charts.nth(2).get_attribute("aria-label")
            assert label == "Calls by direction: inbound: 1; outbound: 1"
            _shot(page, "quality-05-supervisor-dashboard")
            page.click("text=Reports")
            expect(page.locator("#report tbody tr")).to_have_count(1)
            expect(page.locator("#report tbody")).to_contain_text(now.strftime("%Y-%m-%d"))
        finally:
            browser.close()
