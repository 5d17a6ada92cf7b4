"""Notes on recordings: free text by a named author, optionally pinned.

A note is also how a user "comments" on a call (Focus forced comments): the quality rules ask
``latest_note_by`` whether this user commented on this call, and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, Index, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import assume_utc, utcnow
from catalog.tables import Base

if TYPE_CHECKING:  # for annotations only: catalog.archive imports NoteRow from here
    from catalog.repository import Catalog

MAX_NOTE_CHARS = 10_000


class NoteRow(Base):
    __tablename__ = "recording_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    author: Mapped[str] = mapped_column(String(320))  # a user's email or a token's name
    text: Mapped[str] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_recording_notes_author", "author", "recording_id", "created_at"),)


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    recording_id: str
    author: str = Field(description="Who wrote it (email, or API token name)")
    text: str
    pinned: bool = False
    created_at: datetime


def _note(row: NoteRow) -> Note:
    return Note(
        id=row.id,
        recording_id=row.recording_id,
        author=row.author,
        text=row.text,
        pinned=row.pinned,
        created_at=assume_utc(row.created_at),
    )


def add_note(
    catalog: Catalog,
    recording_id: str,
    author: str,
    text: str,
    *,
    pinned: bool = False,
    now: datetime | None = None,
) -> Note:
    text = text.strip()
    if not text:
        raise ValueError("a note needs some text")
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"a note holds at most {MAX_NOTE_CHARS} characters")
    with catalog.db.session() as s:
        row = NoteRow(
            recording_id=recording_id,
            author=author,
            text=text,
            pinned=pinned,
            created_at=now or utcnow(),
        )
        s.add(row)
        s.flush()
        return _note(row)


def list_notes(catalog: Catalog, recording_id: str) -> list[Note]:
    """Pinned notes first, then oldest to newest."""
    with catalog.db.session() as s:
        rows = s.scalars(
            select(NoteRow)
            .where(NoteRow.recording_id == recording_id)
            .order_by(NoteRow.pinned.desc(), NoteRow.created_at, NoteRow.id)
        )
        return [_note(r) for r in rows]


def latest_note_by(catalog: Catalog, recording_id: str, author: str) -> Note | None:
    with catalog.db.session() as s:
        row = s.scalars(
            select(NoteRow)
            .where(NoteRow.recording_id == recording_id, NoteRow.author == author)
            .order_by(NoteRow.created_at.desc(), NoteRow.id.desc())
            .limit(1)
        ).first()
        return _note(row) if row else None


def delete_notes_of(catalog: Catalog, recording_ids: list[str]) -> int:
    """Retention: a deleted recording's notes go with it."""
    with catalog.db.session() as s:
        result = s.execute(delete(NoteRow).where(NoteRow.recording_id.in_(recording_ids)))
        return int(getattr(result, "rowcount", 0) or 0)
