"""Headless Chromium: an administrator enables SFTP on the Integrations tab (credentials shown
once, working against the real SFTP server, host key fingerprint shown), then puts an expired
call on legal hold from its page with a reason, runs retention from the portal (the held call
survives, the other goes), and releases the hold. Screenshots go to test-artifacts/portal/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from catalog import archive as ledger
from catalog.users import Users
from tests.portal.portal_support import add_calls
from tests.portal.test_browser import ARGS, CHROMIUM, _shot, server  # noqa: F401  (fixture)
from tests.portal.test_sftp_page import _login_works

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def test_sftp_and_legal_hold_journey(server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, catalog, _app = server
    new = Users(catalog).create("admin@example.com", "admin")
    held, other = add_calls(
        catalog,
        tmp_path,
        datetime.now(UTC) - timedelta(days=120),
        [
            {"from_number": "+15550001", "to_number": "100"},
            {"from_number": "+15550002", "to_number": "101"},
        ],
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            page.goto(base + "/login")
            page.fill("#email", new.user.email)
            page.fill("#password", new.password)
            page.click("button[type=submit]")
            secret = page.locator("#totp-secret").inner_text().replace(" ", "")
            page.fill("#code", pyotp.TOTP(secret).now())
            page.click("button[type=submit]")
            page.click("text=Continue")

            page.goto(base + "/account?tab=integrations")
            page.click("#sftp-enable")
            expect(page.locator("#sftp-status")).to_have_text("enabled")
            username = page.locator("#sftp-username").inner_text()
            password = page.locator("#sftp-password").inner_text()
            fingerprint = page.locator("#sftp-fingerprint").inner_text()
            expect(page.locator("button[data-copy=sftp-password]")).to_be_visible()
            _shot(page, "access-01-sftp-enabled")
            assert re.fullmatch(r"SFTP[0-9a-f]{8}", username) and fingerprint.startswith("SHA256:")
            page.goto(base + "/account?tab=integrations")
            expect(page.locator("#sftp-password")).to_have_count(0)  # shown once

            # a hold placed from the recording's own page, with its reason
            page.goto(base + f"/recordings/{held.id}")
            page.fill("#hold-reason", "Case 7: preserve")
            page.click("#hold-form button[type=submit]")
            expect(page.locator("#holds-on-call")).to_contain_text("Case 7: preserve")
            page.goto(base + "/legal-holds")
            expect(page.locator(f"#holds tr[data-recording='{held.id}']")).to_contain_text(
                "Case 7: preserve"
            )
            _shot(page, "access-02-hold-placed")
            # retention started from the portal: the held call stays, the other one goes
            page.goto(base + "/retention")
            expect(page.locator("#retention-counts")).to_contain_text("delete: 1")
            page.click("#retention-run button[type=submit]")
            expect(page.locator("#retention-result")).to_contain_text("deleted 1")
            expect(page.locator("#retention-counts")).to_contain_text("held: 1")
            assert catalog.get_recording(held.id) is not None
            assert catalog.get_recording(other.id) is None
            _shot(page, "access-03-retention-report")

            page.goto(base + "/legal-holds")
            row = page.locator(f"#holds tr[data-recording='{held.id}']")
            row.locator("input[name=reason]").fill("case closed")
            row.locator("button[type=submit]").click()
            expect(page.locator("#holds")).to_contain_text("No recording is on hold.")
            assert not ledger.held_ids(catalog.db)
        finally:
            browser.close()
    # the credentials the page showed work against the real server, which presents the key
    # whose fingerprint the page showed (outside Playwright's own event loop)
    assert _login_works(catalog, username, password) == fingerprint
