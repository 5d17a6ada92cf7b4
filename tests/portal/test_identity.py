"""Users, API tokens, sessions and the audit trail at the catalog level (no HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from catalog.audit import MASK, Audit, AuditFilter, diff
from catalog.portal_tables import ApiTokenRow, UserRow
from catalog.users import ApiTokens, Sessions, UserError, Users


def test_password_is_argon2_and_totp_secret_is_encrypted(catalog, clock):
    users = Users(catalog)
    new = users.create("Ann@Example.com", "supervisor", now=clock.now)
    assert new.user.email == "ann@example.com"
    assert new.otpauth_uri.startswith("otpauth://totp/recflow:ann%40example.com?secret=")
    with catalog.db.session() as s:
        row = s.scalars(select(UserRow)).one()
        assert row.password_hash.startswith("$argon2id$")
        secret = users.totp_secret(row.id)
        assert secret not in row.totp_secret_enc and new.password not in row.password_hash
    assert users.authenticate("ann@example.com", new.password, clock.now).ok
    assert not users.authenticate("ann@example.com", new.password + "x", clock.now).ok
    assert users.authenticate("nobody@example.com", "x" * 12, clock.now).reason == "bad_credentials"
    with pytest.raises(UserError):
        users.create("ann@example.com", "user")


def test_lockout_after_failures_and_expiry(catalog, clock):
    users = Users(catalog, max_failures=3, lockout=timedelta(minutes=10))
    new = users.create("bob@example.com", "user")
    for _ in range(3):
        assert (
            users.authenticate("bob@example.com", "wrong-password!", clock.now).reason
            == "bad_credentials"
        )
    # locked: even the right password fails
    assert users.authenticate("bob@example.com", new.password, clock.now).reason == "locked"
    clock.advance(minutes=11)
    assert users.authenticate("bob@example.com", new.password, clock.now).ok


def test_totp_codes_are_single_use_and_skew_tolerant(catalog, clock):
    users = Users(catalog)
    new = users.create("c@example.com", "user")
    totp = pyotp.TOTP(users.totp_secret(new.user.id))
    code = totp.at(clock.now)
    assert users.verify_totp(new.user.id, code, clock.now)
    assert not users.verify_totp(new.user.id, code, clock.now), "replayed code accepted"
    clock.advance(seconds=30)
    # the previous step's neighbour (clock skew) is fine once, a step already used is not
    assert users.verify_totp(new.user.id, totp.at(clock.now + timedelta(seconds=30)), clock.now)
    assert not users.verify_totp(new.user.id, "12345", clock.now)


def test_recovery_codes_work_once(catalog):
    users = Users(catalog)
    new = users.create("d@example.com", "user")
    codes = users.finish_enrolment(new.user.id)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert users.use_recovery_code(new.user.id, codes[3])
    assert not users.use_recovery_code(new.user.id, codes[3])
    assert users.recovery_codes_left(new.user.id) == 9
    assert users.get(new.user.id).totp_enrolled


def test_api_tokens_hashed_shown_once_revocable(catalog):
    tokens = ApiTokens(catalog)
    _tok, secret = tokens.create("crm sync")
    assert len(secret) >= 24
    with catalog.db.session() as s:
        row = s.scalars(select(ApiTokenRow)).one()
        assert secret not in (row.token_sha256, row.prefix) and row.prefix == secret[:8]
    assert tokens.verify(secret).name == "crm sync"
    assert tokens.verify(secret + "x") is None and tokens.verify("not-a-token") is None
    assert [t.name for t in tokens.revoke("crm sync")] == ["crm sync"]
    assert tokens.verify(secret) is None


def test_sessions_expire_idle_and_absolute(catalog, clock):
    sessions = Sessions(catalog, idle=timedelta(minutes=30), absolute=timedelta(hours=2))
    raw = sessions.create("u1", "full", "127.0.0.1", clock.now)
    for _ in range(5):  # active use keeps it alive past the idle window …
        clock.advance(minutes=20)
        assert sessions.get(raw, clock.now) is not None
    clock.advance(minutes=21)  # … but never past the absolute lifetime (2 h)
    assert sessions.get(raw, clock.now) is None
    raw = sessions.create("u1", "full", "127.0.0.1", clock.now)
    clock.advance(minutes=31)
    assert sessions.get(raw, clock.now) is None
    half = sessions.create("u1", "password", "127.0.0.1", clock.now)
    clock.advance(minutes=6)
    assert sessions.get(half, clock.now) is None, "a half login outlived its 5 minutes"


def test_diff_masks_secrets_and_nests():
    before = {"slack": {"token": SecretStr("xoxb-1"), "channel": "#a", "enabled": True}}
    after = {"slack": {"token": SecretStr("xoxb-2"), "channel": "#b", "enabled": True}}
    changes = {c.field: (c.old, c.new) for c in diff(before, after, "connectors")}
    assert changes == {
        "connectors.slack.channel": ("#a", "#b"),
        "connectors.slack.token": (MASK, MASK),
    }
    assert not diff({"password": "same"}, {"password": "same"})
    plain = diff({"api_key": "abc"}, {"api_key": "def"})
    assert "abc" not in str(plain) and "def" not in str(plain)


def test_audit_filters_and_keyset(catalog, clock):
    audit = Audit(catalog)
    for i in range(7):
        audit.record(
            "playback",
            initiator=f"u{i % 2}@x",
            client_ip="10.0.0.1",
            resource=f"recording:{i}",
            at=clock.now,
        )
        clock.advance(hours=1)
    audit.record("login", initiator="u0@x", at=clock.now)
    assert len(audit.list(AuditFilter(action="playback"))) == 7
    assert len(audit.list(AuditFilter(initiator="u1@x"))) == 3
    assert [e.resource for e in audit.list(AuditFilter(resource="recording:6"))] == ["recording:6"]
    page1 = audit.list(limit=3)
    page2 = audit.list(before_seq=page1[-1].seq, limit=3)
    assert page1[0].action == "login" and page2[0].seq == page1[-1].seq - 1
    assert audit.actions() == ["login", "playback"]
