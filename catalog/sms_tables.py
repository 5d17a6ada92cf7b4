"""SMS tables: the messages (durable before they are announced) and the contacts directory.

A message row is written once, complete, in one transaction; ``dedup_key`` is unique so a
retransmitted SIP MESSAGE (same Call-ID, same content) or a retried API call lands on the row
that is already there instead of a second one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.tables import Base


class SmsRow(Base):
    __tablename__ = "sms_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the interaction id
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    call_id: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(String(16), default="api")
    subscriber: Mapped[str] = mapped_column(String(64), default="", index=True)
    from_number: Mapped[str] = mapped_column(String(64), index=True)
    from_name: Mapped[str] = mapped_column(String(255), default="")
    to_number: Mapped[str] = mapped_column(String(64), index=True)
    to_name: Mapped[str] = mapped_column(String(255), default="")
    direction: Mapped[str] = mapped_column(String(16), default="unknown")
    received_at: Mapped[datetime] = mapped_column(index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # worker holding the claim
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    status_changed_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_sms_messages_status_created", "status", "created_at"),)


class ContactRow(Base):
    """Number → name. ``number_key`` is the number reduced to its digits, so ``+44 7700 900127``
    and ``+447700900127`` are one contact."""

    __tablename__ = "sms_contacts"

    number_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime]
