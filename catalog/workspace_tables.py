"""Tables of the recordings workspace: categories, custom fields, saved searches.

The full-text index (``search_fts``/``search_docs`` on SQLite, ``search_docs`` with a GIN index
on PostgreSQL) is created by raw SQL in the ``workspace_0001`` migration and kept in step by
database triggers, so every writer (the worker saving a transcript, a note, retention deleting a
call) updates it in the same transaction without knowing it exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.tables import Base


class CategoryRow(Base):
    """The admin-defined list of categories."""

    __tablename__ = "categories"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]


class RecordingCategoryRow(Base):
    __tablename__ = "recording_categories"

    recording_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    assigned_by: Mapped[str] = mapped_column(String(320), default="")
    assigned_at: Mapped[datetime]

    __table_args__ = (Index("ix_recording_categories_category", "category", "recording_id"),)


class CustomFieldRow(Base):
    """An admin-defined custom field: text, date or an option list."""

    __tablename__ = "custom_fields"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="text")  # text | date | option
    options: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]


class RecordingFieldRow(Base):
    __tablename__ = "recording_fields"

    recording_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_recording_fields_name_value", "name", "value"),)


class SavedSearchRow(Base):
    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(320), index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    query: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
