"""A supervisor's workspace journey in headless Chromium against a real uvicorn server: search by
a phrase said in a call, bulk-categorise the hits, save the search, run it from the list, export
XLSX and open it with openpyxl, open the call at the matching line (waveform) and add a pinned
note at a moment of the call."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
from openpyxl import load_workbook

from catalog.notes import list_notes
from catalog.users import Users
from catalog.workspace import set_category_list
from tests.portal.portal_support import add_calls, add_transcript
from tests.portal.test_browser import ARGS, CHROMIUM, _shot, pytestmark, server  # noqa: F401


def test_supervisor_workspace_journey(server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, catalog, _app = server
    new = Users(catalog).create("lead@example.com", "admin")
    hit, other = add_calls(
        catalog,
        tmp_path,
        datetime.now(UTC),
        [
            {"from_number": "+15550001", "to_number": "100"},
            {"from_number": "+15550002", "to_number": "100"},
        ],
    )
    add_transcript(catalog, hit)  # "I want to cancel my subscription"
    set_category_list(catalog, ["billing", "retention"])

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            page.set_default_timeout(15000)
            page.goto(base + "/")
            page.fill("#email", new.user.email)
            page.fill("#password", new.password)
            page.click("button[type=submit]")
            secret = page.locator("#totp-secret").inner_text().replace(" ", "")
            page.fill("#code", pyotp.TOTP(secret).now())
            page.click("button[type=submit]")
            page.click("text=Continue")
            expect(page.locator("h1")).to_have_text("Recordings")
            expect(page.locator("[data-view=all] .count")).to_have_text("2")

            # search by a phrase said in the call: one hit, the line shown with the words marked
            page.fill("#q", '"cancel my"')
            page.click("#search-form button[type=submit]")
            expect(page.locator("tr[id^=rec-]")).to_have_count(1)
            expect(page.locator(f"#rec-{hit.id}")).to_be_visible()
            expect(page.locator("tr.snippet mark").first).to_have_text("cancel my")
            _shot(page, "ws-01-search")

            # bulk-categorise the result list
            page.check(f"#rec-{hit.id} input[type=checkbox]")
            page.select_option("#bulk-category", "retention")
            page.click("#bulk-form button[value=add]")
            expect(page.locator(".notice")).to_contain_text("retention added to 1 call")
            expect(page.locator(f"#rec-{hit.id} .cats")).to_have_text("retention")
            expect(page.locator('[data-view="category:retention"] .count')).to_have_text("1")

            # save the search; it is listed and runs from the list
            page.fill("#save-name", "cancellations")
            page.click("#save-form button[type=submit]")
            expect(page.locator("#saved-searches")).to_contain_text("cancellations")
            page.goto(base + "/recordings")
            page.click("#saved-searches >> text=cancellations")
            expect(page.locator("tr[id^=rec-]")).to_have_count(1)
            _shot(page, "ws-02-saved")

            # export XLSX of the same result and open it
            with page.expect_download() as dl:
                page.click("#export-xlsx")
            path = tmp_path / "export.xlsx"
            dl.value.save_as(str(path))

            # play from the transcript line
            page.click("tr.snippet a")
            expect(page).to_have_url(re.compile(rf"/recordings/{hit.id}"))
            expect(page.locator(".transcript")).to_contain_text("cancel my subscription")
            expect(page.locator("svg.waveform polygon.lane")).to_have_count(2)

            # add a pinned note at a moment of the call
            page.fill("#note-text", "customer wants to leave; call back")
            page.fill("#note-offset", "0:00.5")
            page.check("#note-pinned")
            page.click("#note-form button[type=submit]")
            expect(page.locator("ul.notes li.pinned")).to_contain_text("call back")
            expect(page.locator("svg.waveform line.marker.note")).to_have_count(1)
            _shot(page, "ws-03-call")
        finally:
            browser.close()

    rows = list(load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    assert rows[0][0] == "id"
    assert [r[0] for r in rows[1:]] == [hit.id]
    assert rows[1][10] == "retention"
    assert other.id not in str(rows)
    (note,) = list_notes(catalog, hit.id)
    assert (note.pinned, note.offset, note.author) == (True, 0.5, "lead@example.com")
