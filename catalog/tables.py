"""SQLAlchemy 2 tables of the spine. Feature packages add their own table modules in catalog/
and their own alembic branch (see catalog/migrations/README.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # SQLAlchemy reads this as a plain class attribute
    type_annotation_map = {  # noqa: RUF012
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    from_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    from_name: Mapped[str] = mapped_column(String(255), default="")
    to_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    to_name: Mapped[str] = mapped_column(String(255), default="")
    direction: Mapped[str] = mapped_column(String(16), default="unknown")
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    channels: Mapped[int] = mapped_column(Integer, default=2)
    sample_rate: Mapped[int] = mapped_column(Integer, default=8000)
    codec: Mapped[str] = mapped_column(String(32), default="")
    file_key: Mapped[str] = mapped_column(String(512), default="")
    file_size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    participants: Mapped[list[Any]] = mapped_column(default=list)
    pauses: Mapped[list[Any]] = mapped_column(default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    status: Mapped[str] = mapped_column(String(16), default="captured")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    status_changed_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_recordings_status_created", "status", "created_at"),)


class TranscriptRow(Base):
    __tablename__ = "transcripts"

    recording_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    engine: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str] = mapped_column(String(16), default="en")
    segments: Mapped[list[Any]] = mapped_column(default=list)
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class DeliveryRow(Base):
    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16), default="recording")
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    connector: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(255), default="")
    idempotency_key: Mapped[str] = mapped_column(String(512), unique=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    external_id: Mapped[str] = mapped_column(String(255), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SettingRow(Base):
    """Account settings and other small documents, one JSON value per key."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class WorkerRow(Base):
    """Liveness of each worker process: a claim held by a worker whose heartbeat is stale is
    handed back, so a recording whose worker died mid-run is processed again."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    heartbeat_at: Mapped[datetime]
    started_at: Mapped[datetime]
