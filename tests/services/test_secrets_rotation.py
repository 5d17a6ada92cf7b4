"""Key rotation: with the old key as RECFLOW_SECRET_KEY_PREVIOUS everything stored stays
readable (TOTP logins, recovery codes, connector secrets, session cookies); `recflow secrets
rotate` moves it all to the new key, after which the old key is no longer needed. Data written
with the derivations used before catalog/keys.py stays readable too."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from catalog.connector_configs import get_connector, put_connector
from catalog.keys import CONNECTOR_SECRETS, SESSIONS, TOTP, KeyRing, derive
from catalog.portal_tables import UserRow
from catalog.repository import Catalog
from catalog.settings import RecflowSettings, get_settings
from catalog.users import UserError, Users
from connectors import configured
from portal.security import Signer
from services.secrets_rotation import RotationError, rotate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    data = tmp_path / "data"

    def open_with(key: str, previous: str = "") -> Catalog:
        monkeypatch.setenv("RECFLOW_DATA_DIR", str(data))
        monkeypatch.setenv("RECFLOW_SECRET_KEY", key)
        if previous:
            monkeypatch.setenv("RECFLOW_SECRET_KEY_PREVIOUS", previous)
        else:
            monkeypatch.delenv("RECFLOW_SECRET_KEY_PREVIOUS", raising=False)
        get_settings.cache_clear()
        return Catalog.open(RecflowSettings())

    yield open_with
    get_settings.cache_clear()


def _setup(cat: Catalog) -> tuple[str, str, list[str]]:
    users = Users(cat)
    new = users.create("alice@example.com", "admin", now=NOW)
    secret = users.totp_secret(new.user.id)
    codes = users.finish_enrolment(new.user.id)
    put_connector(
        cat,
        configured.make_stored(
            name="hook",
            kind="webhook",
            values={"url": "https://example.com/h", "signing_secret": "s3cr3t-value"},
            secret_key=cat.settings.resolved_secret_key(),
        ),
    )
    return new.user.id, secret, codes


def _totp_ok(cat: Catalog, user_id: str, secret: str, at: datetime) -> bool:
    return Users(cat).verify_totp(user_id, pyotp.TOTP(secret).at(at), at)


def test_rotation_keeps_every_login_and_secret(env) -> None:  # type: ignore[no-untyped-def]
    old = env("old-key-1")
    user_id, secret, codes = _setup(old)
    cookie = Signer(old.settings.keyring()).sign_session("raw-session")
    stored_before = get_connector(old, "hook").secrets  # type: ignore[union-attr]
    old.db.dispose()

    # the new key alone cannot read what the old one wrote
    bare = env("new-key-2")
    with pytest.raises(UserError):
        Users(bare).totp_secret(user_id)
    bare.db.dispose()

    # with the old key as previous: everything works before the rotation
    cat = env("new-key-2", previous="old-key-1")
    assert _totp_ok(cat, user_id, secret, NOW)
    assert Users(cat).use_recovery_code(user_id, codes[0])
    assert configured.values_of(get_connector(cat, "hook"))["signing_secret"] == "s3cr3t-value"  # type: ignore[arg-type]
    assert Signer(cat.settings.keyring()).unsign_session(cookie, 3600) == "raw-session"

    r = rotate(cat)
    assert (r.connectors, r.totp_seeds, r.users_with_recovery_codes) == (1, 1, 1)
    assert get_connector(cat, "hook").secrets != stored_before  # type: ignore[union-attr]
    cat.db.dispose()

    # after the rotation the previous key is not needed for seeds and connector secrets
    cat = env("new-key-2")
    assert _totp_ok(cat, user_id, secret, NOW.replace(minute=5))
    assert configured.values_of(get_connector(cat, "hook"))["signing_secret"] == "s3cr3t-value"  # type: ignore[arg-type]
    # a recovery code made under the old key needs it (documented); new codes work
    assert not Users(cat).use_recovery_code(user_id, codes[1])
    fresh = Users(cat).new_recovery_codes(user_id)
    assert Users(cat).use_recovery_code(user_id, fresh[0])
    cat.db.dispose()


def test_wrong_previous_key_changes_nothing(env) -> None:  # type: ignore[no-untyped-def]
    old = env("old-key-1")
    user_id, _secret, _codes = _setup(old)
    with old.db.session() as s:
        seed_before = s.get(UserRow, user_id).totp_secret_enc  # type: ignore[union-attr]
    old.db.dispose()
    cat = env("new-key-2", previous="not-the-old-key")
    with pytest.raises(RotationError, match="cannot be decrypted"):
        rotate(cat)
    with cat.db.session() as s:
        assert s.get(UserRow, user_id).totp_secret_enc == seed_before  # type: ignore[union-attr]
    cat.db.dispose()


def test_data_from_the_old_derivations_stays_readable(env) -> None:  # type: ignore[no-untyped-def]
    cat = env("k-legacy")
    user_id, secret, _ = _setup(cat)
    # write the seed the way catalog/users.py did before catalog/keys.py
    legacy = hashlib.sha256(b"recflow:totp:k-legacy").digest()
    token = Fernet(base64.urlsafe_b64encode(legacy)).encrypt(secret.encode()).decode()
    with cat.db.session() as s:
        s.get(UserRow, user_id).totp_secret_enc = token  # type: ignore[union-attr]
    assert _totp_ok(cat, user_id, secret, NOW)
    assert rotate(cat).totp_seeds == 1  # moved onto the HKDF key
    with cat.db.session() as s:
        enc = s.get(UserRow, user_id).totp_secret_enc  # type: ignore[union-attr]
    assert Fernet(base64.urlsafe_b64encode(derive("k-legacy", TOTP))).decrypt(enc.encode())
    # old session cookies (sha256 "recflow portal v1|" key) still verify
    from itsdangerous import URLSafeTimedSerializer

    old_key = hashlib.sha256(b"recflow portal v1|k-legacy").digest()
    cookie = URLSafeTimedSerializer(old_key, salt="recflow-session").dumps("r1")
    assert Signer("k-legacy").unsign_session(cookie, 60) == "r1"
    cat.db.dispose()


def test_one_key_per_purpose() -> None:
    ring = KeyRing("same-secret")
    derived = {p: ring.keys(p)[0] for p in (CONNECTOR_SECRETS, TOTP, SESSIONS)}
    assert len(set(derived.values())) == 3
    # the connector label is the one connectors/secrets.py always used: old tokens still open
    assert derived[CONNECTOR_SECRETS] == derive("same-secret", "connector secrets")


def test_cli_rotate(env) -> None:  # type: ignore[no-untyped-def]
    import typer

    from recflow.commands import secrets as secrets_cmd

    old = env("old-key-1")
    _setup(old)
    old.db.dispose()
    app = typer.Typer()
    secrets_cmd.register(app)
    app.command("noop")(lambda: None)
    env("new-key-2", previous="wrong")
    r = CliRunner().invoke(app, ["secrets", "rotate"])
    assert r.exit_code == 1 and "error:" in r.output and "Traceback" not in r.output
    env("new-key-2", previous="old-key-1")
    r = CliRunner().invoke(app, ["secrets", "rotate"])
    assert r.exit_code == 0, r.output
    assert "1 connector(s), 1 TOTP seed(s)" in r.output
