"""Archive and retention tables: the archive ledger, per-destination progress, per-recording
retention holds and the retention deletion log.

The ledger is the proof of what was archived where (key, size, checksum, when verified); the
progress table is what makes an incremental run cheap (one indexed anti-join over recordings);
the deletion log is the proof of what retention removed and why, kept even after the recording
row itself is gone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalog.tables import Base


class ArchiveObjectRow(Base):
    """One verified object at one destination."""

    __tablename__ = "archive_objects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    archive: Mapped[str] = mapped_column(String(128))  # archive entry name
    role: Mapped[str] = mapped_column(String(16), default="primary")  # primary | secondary
    connector: Mapped[str] = mapped_column(String(128))
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(64))  # "MP3", "MP3.metadata", …
    key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    checksum: Mapped[str] = mapped_column(String(128), default="")  # sha256 hex
    uploaded_at: Mapped[datetime]
    verified_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("archive", "role", "recording_id", "name", name="uq_archive_object"),
    )


class ArchiveDoneRow(Base):
    """A recording fully archived by one archive entry under one plan signature."""

    __tablename__ = "archive_done"

    archive: Mapped[str] = mapped_column(String(128), primary_key=True)
    recording_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan: Mapped[str] = mapped_column(String(32))
    done_at: Mapped[datetime]
    moved: Mapped[bool] = mapped_column(default=False)


class RetentionHoldRow(Base):
    """A per-recording hold: while unreleased, retention never deletes the recording."""

    __tablename__ = "retention_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    released_by: Mapped[str] = mapped_column(String(320), default="")

    __table_args__ = (Index("ix_retention_holds_recording", "recording_id", "released_at"),)


class RetentionDeletionRow(Base):
    """What retention (or an archive move) deleted, when, and under which rule."""

    __tablename__ = "retention_deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    what: Mapped[str] = mapped_column(String(32))  # recording | local_copy
    call_id: Mapped[str] = mapped_column(String(255), default="")
    from_number: Mapped[str] = mapped_column(String(64), default="")
    to_number: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime | None]
    sha256: Mapped[str] = mapped_column(String(64), default="")
    retention_group: Mapped[str] = mapped_column(String(128), default="")
    days: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(320), default="")
    deleted_at: Mapped[datetime] = mapped_column(index=True)
