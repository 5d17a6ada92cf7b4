"""`recflow users create` and `recflow tokens create|list|revoke` through typer."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from catalog.settings import get_settings
from catalog.users import ApiTokens, Users
from recflow.commands import portal_admin
from recflow.context import open_catalog


@pytest.fixture
def cli(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECFLOW_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    app = typer.Typer()
    portal_admin.register(app)
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_users_create_prints_password_and_otpauth_once(cli):
    r = cli("users", "create", "Root@Example.com", "--role", "admin")
    assert r.exit_code == 0, r.output
    uri = re.search(r"otpauth://totp/\S+", r.output).group(0)
    password = re.search(r"password: (\S+)", r.output).group(1)
    assert "issuer=recflow" in uri
    users = Users(open_catalog())
    from catalog.models import utcnow

    assert users.authenticate("root@example.com", password, utcnow()).ok
    assert cli("users", "create", "root@example.com").exit_code == 1
    listing = cli("users", "list")
    assert "root@example.com" in listing.output and "2fa-pending" in listing.output
    assert password not in listing.output


def test_tokens_create_list_revoke(cli):
    r = cli("tokens", "create", "check")
    assert r.exit_code == 0
    token = re.search(r"[A-Za-z0-9_\-.]{24,}", r.stdout).group(0)
    assert ApiTokens(open_catalog()).verify(token).name == "check"
    listing = cli("tokens", "list").output
    assert "check" in listing and token not in listing
    assert cli("tokens", "revoke", "check").exit_code == 0
    assert ApiTokens(open_catalog()).verify(token) is None
    assert cli("tokens", "revoke", "check").exit_code == 1
