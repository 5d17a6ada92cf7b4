"""Each language in headless Chromium: the account screen and the People page, with a
screenshot per language in test-artifacts/portal/ (i18n-<lang>-*.png)."""

from __future__ import annotations

import re

import pyotp
import pytest

from catalog.users import Users
from tests.portal.test_browser import ARGS, CHROMIUM, _shot, server  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")

EXPECT = {  # lang: (html lang, nav "Account", People heading)
    "en": ("en", "Account", "People"),
    "fr": ("fr", "Compte", "Personnes"),
    "pt_BR": ("pt-BR", "Conta", "Pessoas"),
    "ru": ("ru", "Учётная запись", "Люди"),
    "es": ("es", "Cuenta", "Personas"),
}


def test_every_language_in_chromium(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, catalog, _app = server
    new = Users(catalog).create("admin@example.com", "admin")
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
            expect(page.locator("#recovery-codes li")).to_have_count(10)
            for lang, (tag, account, people) in EXPECT.items():
                page.goto(f"{base}/account?lang={lang}")
                assert page.locator("html").get_attribute("lang") == tag
                expect(page.locator("nav[aria-label] a[href='/account']")).to_have_text(account)
                _shot(page, f"i18n-{lang}-account")
                page.goto(f"{base}/people")  # no ?lang=: the choice is remembered
                expect(page.locator("h1")).to_have_text(people)
                expect(page.locator("#people")).to_contain_text("admin@example.com")
                _shot(page, f"i18n-{lang}-people")
            page.goto(f"{base}/me?lang=ru")
            expect(page.locator("h1")).to_have_text(re.compile("Мой профиль"))
            _shot(page, "i18n-ru-me")
        finally:
            browser.close()
