"""The Integrations tab's "Enable SFTP": credentials shown once and working against the real
SFTP server, disabling revokes them, re-enabling issues new ones; audited; admins only."""

from __future__ import annotations

import asyncio
import re

import asyncssh

from catalog.audit import AuditFilter
from services.sftp_server import SftpService
from services.sftp_settings import SftpServerSettings, load_settings, save_settings
from tests.portal.portal_support import csrf_of


def _login_works(catalog, username: str, password: str) -> str | None:
    """The server's host key fingerprint when the login works, else None."""
    save_settings(
        catalog, load_settings(catalog).model_copy(update={"port": 0, "bind": "127.0.0.1"})
    )
    service = SftpService(catalog)

    async def probe() -> str | None:
        await service.apply(SftpServerSettings(enabled=True, port=0, bind="127.0.0.1"))
        try:
            async with (
                asyncssh.connect(
                    "127.0.0.1",
                    port=service.port,
                    username=username,
                    password=password,
                    known_hosts=None,
                ) as conn,
                conn.start_sftp_client() as sftp,
            ):
                assert await sftp.listdir("/") == [".", "..", "MobileVoiceRecorder"]
                return conn.get_server_host_key().get_fingerprint("sha256")
        except asyncssh.PermissionDenied:
            return None
        finally:
            await service.close()

    return asyncio.run(probe())


def test_enable_shows_credentials_once_disable_revokes(app, admin_client, catalog):
    page = admin_client.get("/account?tab=integrations")
    assert 'id="sftp-enable"' in page.text
    r = admin_client.post("/account/sftp", data={"action": "enable", "csrf": csrf_of(page.text)})
    assert r.status_code == 200
    user = re.search(r'id="sftp-username">([^<]+)<', r.text).group(1)
    password = re.search(r'id="sftp-password">([^<]+)<', r.text).group(1)
    fingerprint = re.search(r'id="sftp-fingerprint">([^<]+)<', r.text).group(1)
    assert user.startswith("SFTP") and fingerprint.startswith("SHA256:")
    assert 'data-copy="sftp-password"' in r.text
    assert load_settings(catalog).enabled
    again = admin_client.get("/account?tab=integrations")
    assert password not in again.text and user in again.text  # the password: once
    assert _login_works(catalog, user, password) == fingerprint  # the key the portal shows
    admin_client.post("/account/sftp", data={"action": "disable", "csrf": csrf_of(again.text)})
    assert not load_settings(catalog).enabled
    assert _login_works(catalog, user, password) is None
    r = admin_client.post("/account/sftp", data={"action": "enable", "csrf": csrf_of(again.text)})
    user2 = re.search(r'id="sftp-username">([^<]+)<', r.text).group(1)
    assert user2 != user
    actions = [e.action for e in app.state.portal.audit.list(AuditFilter())]
    assert actions.count("sftp.enabled") == 2 and "sftp.disabled" in actions


def test_supervisor_cannot_enable(app, make_user, clock):
    from tests.portal.portal_support import logged_in

    sup = make_user("sup@example.com", "supervisor")
    client = logged_in(app, sup, clock)
    page = client.get("/account?tab=integrations")
    assert 'id="sftp-enable"' not in page.text
    r = client.post("/account/sftp", data={"action": "enable", "csrf": csrf_of(page.text)})
    assert r.status_code == 403
