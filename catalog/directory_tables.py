"""Directory tables (issue 16): groups (nested), group membership, devices/extensions owned by
users, and per-user settings that the portal_users row does not carry (forced password change,
language). Users themselves stay in ``portal_users`` (catalog.portal_tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from catalog.tables import Base


class DirGroupRow(Base):
    __tablename__ = "dir_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # one level of nesting is what the portal shows; the data allows a chain, cycles are refused
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    language: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime]


class DirMemberRow(Base):
    __tablename__ = "dir_group_members"

    group_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


class DirDeviceRow(Base):
    """A phone, softphone or extension: a number (E.164 or extension) and/or a SIP URI."""

    __tablename__ = "dir_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    sip_uri: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255), default="")
    user_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime]


class DirUserSettingsRow(Base):
    __tablename__ = "dir_user_settings"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(16), default="")


class CallCommandRow(Base):
    """Start/stop recording of a live call, asked through the API and carried out by the
    recorder process (which polls this table every second)."""

    __tablename__ = "dir_call_commands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(16))  # start | stop
    requested_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(String(32), default="")  # applied | no_such_call
