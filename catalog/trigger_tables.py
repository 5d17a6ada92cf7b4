"""Keyword-trigger tables: the matches found per recording, and the alert ledger.

The ledger is what makes "one alert per rule per call" hold across flow retries, worker crashes
and backfills: a (recording, rule, connector) row is claimed before the message goes out and
marked ``sent`` after, so a re-run skips what was sent and finishes what was not.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalog.tables import Base


class TriggerMatchRow(Base):
    __tablename__ = "trigger_matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    phrase: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16), default="phrase")
    speaker: Mapped[str | None] = mapped_column(String(16))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    snippet: Mapped[str] = mapped_column(Text, default="")
    rules_version: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime]
    # least word probability of the words matched (None: stored before transcripts_0001)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_trigger_matches_rule", "rule", "created_at"),)


class TriggerAlertRow(Base):
    __tablename__ = "trigger_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    connector: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="sending")  # sending | sent
    delivery_id: Mapped[str] = mapped_column(String(36), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("recording_id", "rule", "connector", name="uq_trigger_alerts_once"),
    )
