"""Portal tables: users, API tokens, server-side sessions and the audit trail.

Secrets never sit in these rows in a usable form: passwords and recovery codes are argon2
hashes, API tokens and session ids are SHA-256 digests (they are long random strings, so a fast
hash is enough and lets us look them up by value), TOTP seeds are Fernet-encrypted with a key
derived from ``RECFLOW_SECRET_KEY``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.tables import Base


class UserRow(Base):
    __tablename__ = "portal_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="user")
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret_enc: Mapped[str] = mapped_column(Text, default="")
    totp_enrolled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    recovery_hashes: Mapped[list[Any]] = mapped_column(default=list)
    # own extensions/numbers (a user sees calls on these); a supervisor also sees group_numbers
    numbers: Mapped[list[Any]] = mapped_column(default=list)
    group_numbers: Mapped[list[Any]] = mapped_column(default=list)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    # signs in through the OpenID provider only: the password form refuses it (migration sso_0001)
    sso_only: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiTokenRow(Base):
    __tablename__ = "portal_api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SessionRow(Base):
    __tablename__ = "portal_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    # "password" until the second factor is proven, then "full"
    stage: Mapped[str] = mapped_column(String(16), default="password")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditRow(Base):
    __tablename__ = "audit_log"

    # a monotonically increasing id gives a stable keyset order even when clocks tie
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    initiator: Mapped[str] = mapped_column(String(320), default="", index=True)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(512), default="", index=True)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    changes: Mapped[list[Any]] = mapped_column(default=list)
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_audit_action_at", "action", "at"),)
