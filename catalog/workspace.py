"""Catalog operations of the recordings workspace: the category list and assignments, custom
field definitions and values, saved searches. Every change that a person makes returns what
changed, so the caller can audit it with a field-level diff."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select

from catalog.models import assume_utc, utcnow
from catalog.repository import Catalog
from catalog.workspace_tables import (
    CategoryRow,
    CustomFieldRow,
    RecordingCategoryRow,
    RecordingFieldRow,
    SavedSearchRow,
)

# ---------------------------------------------------------------- categories


def list_categories(catalog: Catalog) -> list[str]:
    with catalog.db.session() as s:
        return list(s.scalars(select(CategoryRow.name).order_by(CategoryRow.name)))


def set_category_list(catalog: Catalog, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Make the defined list exactly ``names``; returns (added, removed). Removing a category
    also unassigns it from every call."""
    want = set(names)
    with catalog.db.session() as s:
        have = set(s.scalars(select(CategoryRow.name)))
        added, removed = sorted(want - have), sorted(have - want)
        for n in added:
            s.add(CategoryRow(name=n, created_at=utcnow()))
        if removed:
            s.execute(
                delete(RecordingCategoryRow).where(RecordingCategoryRow.category.in_(removed))
            )
            s.execute(delete(CategoryRow).where(CategoryRow.name.in_(removed)))
    return added, removed


def add_category(catalog: Catalog, name: str) -> bool:
    with catalog.db.session() as s:
        if s.get(CategoryRow, name) is not None:
            return False
        s.add(CategoryRow(name=name, created_at=utcnow()))
        return True


def categories_of(catalog: Catalog, ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    with catalog.db.session() as s:
        rows = s.execute(
            select(RecordingCategoryRow.recording_id, RecordingCategoryRow.category)
            .where(RecordingCategoryRow.recording_id.in_(list(ids)))
            .order_by(RecordingCategoryRow.category)
        )
        for rid, cat in rows:
            out.setdefault(rid, []).append(cat)
    return out


def set_categories(
    catalog: Catalog,
    recording_ids: Sequence[str],
    categories: Sequence[str],
    *,
    by: str,
    mode: str = "replace",
) -> dict[str, tuple[list[str], list[str]]]:
    """Assign categories to calls: ``replace`` (exactly these), ``add`` or ``remove``. Unknown
    categories raise ValueError naming them. Returns {recording_id: (before, after)} for the
    calls that changed."""
    if mode not in ("replace", "add", "remove"):
        raise ValueError(f"unknown mode {mode!r}")
    wanted = list(dict.fromkeys(categories))
    changes: dict[str, tuple[list[str], list[str]]] = {}
    with catalog.db.session() as s:
        known = set(s.scalars(select(CategoryRow.name)))
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise ValueError(
                f"unknown categor{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)}"
                f" (defined: {', '.join(sorted(known)) or 'none'})"
            )
        now = utcnow()
        for rid in dict.fromkeys(recording_ids):
            before = sorted(
                s.scalars(
                    select(RecordingCategoryRow.category).where(
                        RecordingCategoryRow.recording_id == rid
                    )
                )
            )
            if mode == "replace":
                after = sorted(set(wanted))
            elif mode == "add":
                after = sorted(set(before) | set(wanted))
            else:
                after = sorted(set(before) - set(wanted))
            if after == before:
                continue
            gone = set(before) - set(after)
            if gone:
                s.execute(
                    delete(RecordingCategoryRow).where(
                        RecordingCategoryRow.recording_id == rid,
                        RecordingCategoryRow.category.in_(sorted(gone)),
                    )
                )
            for c in sorted(set(after) - set(before)):
                s.add(
                    RecordingCategoryRow(
                        recording_id=rid, category=c, assigned_by=by, assigned_at=now
                    )
                )
            changes[rid] = (before, after)
    return changes


def category_counts(catalog: Catalog, ids_clause: Any = None) -> dict[str, int]:
    """Calls per category (all calls; the service narrows by visibility with search counts)."""
    with catalog.db.session() as s:
        rows = s.execute(
            select(RecordingCategoryRow.category, func.count()).group_by(
                RecordingCategoryRow.category
            )
        )
        return {c: int(n) for c, n in rows}


# ---------------------------------------------------------------- custom fields


class CustomField(BaseModel):
    name: str
    kind: str = "text"  # text | date | option
    options: list[str] = []


def list_custom_fields(catalog: Catalog) -> list[CustomField]:
    with catalog.db.session() as s:
        return [
            CustomField(name=r.name, kind=r.kind, options=list(r.options or []))
            for r in s.scalars(select(CustomFieldRow).order_by(CustomFieldRow.name))
        ]


def put_custom_field(catalog: Catalog, f: CustomField) -> bool:
    """Create or change a definition; True when something changed."""
    with catalog.db.session() as s:
        row = s.get(CustomFieldRow, f.name)
        if row is None:
            s.add(CustomFieldRow(name=f.name, kind=f.kind, options=f.options, created_at=utcnow()))
            return True
        if row.kind == f.kind and list(row.options or []) == f.options:
            return False
        row.kind, row.options = f.kind, f.options
        return True


def delete_custom_field(catalog: Catalog, name: str) -> None:
    with catalog.db.session() as s:
        s.execute(delete(RecordingFieldRow).where(RecordingFieldRow.name == name))
        s.execute(delete(CustomFieldRow).where(CustomFieldRow.name == name))


def custom_values_of(catalog: Catalog, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {i: {} for i in ids}
    if not ids:
        return out
    with catalog.db.session() as s:
        rows = s.execute(
            select(
                RecordingFieldRow.recording_id, RecordingFieldRow.name, RecordingFieldRow.value
            ).where(RecordingFieldRow.recording_id.in_(list(ids)))
        )
        for rid, name, value in rows:
            out.setdefault(rid, {})[name] = value
    return out


def set_custom_values(
    catalog: Catalog, recording_id: str, values: dict[str, str | None], *, by: str
) -> dict[str, tuple[str | None, str | None]]:
    """Set (or clear, with None/'') custom field values of one call; returns {name: (old, new)}
    for what changed. Values are validated by the caller (services.workspace)."""
    diff: dict[str, tuple[str | None, str | None]] = {}
    now = utcnow()
    with catalog.db.session() as s:
        for name, value in values.items():
            row = s.get(RecordingFieldRow, (recording_id, name))
            old = row.value if row else None
            new = value or None
            if old == new:
                continue
            if new is None:
                s.delete(row)
            elif row is None:
                s.add(
                    RecordingFieldRow(
                        recording_id=recording_id,
                        name=name,
                        value=new,
                        updated_by=by,
                        updated_at=now,
                    )
                )
            else:
                row.value, row.updated_by, row.updated_at = new, by, now
            diff[name] = (old, new)
    return diff


# ---------------------------------------------------------------- saved searches


class SavedSearch(BaseModel):
    id: int
    name: str
    owner: str
    shared: bool
    query: dict[str, Any]
    created_at: datetime


def _saved(row: SavedSearchRow) -> SavedSearch:
    return SavedSearch(
        id=row.id,
        name=row.name,
        owner=row.owner,
        shared=row.shared,
        query=dict(row.query or {}),
        created_at=assume_utc(row.created_at),
    )


def add_saved_search(
    catalog: Catalog, name: str, owner: str, query: dict[str, Any], *, shared: bool = False
) -> SavedSearch:
    with catalog.db.session() as s:
        row = SavedSearchRow(
            name=name, owner=owner, shared=shared, query=query, created_at=utcnow()
        )
        s.add(row)
        s.flush()
        return _saved(row)


def saved_searches_for(catalog: Catalog, owner: str) -> list[SavedSearch]:
    """The caller's own and every shared one."""
    with catalog.db.session() as s:
        rows = s.scalars(
            select(SavedSearchRow)
            .where((SavedSearchRow.owner == owner) | SavedSearchRow.shared.is_(True))
            .order_by(SavedSearchRow.name, SavedSearchRow.id)
        )
        return [_saved(r) for r in rows]


def get_saved_search(catalog: Catalog, search_id: int) -> SavedSearch | None:
    with catalog.db.session() as s:
        row = s.get(SavedSearchRow, search_id)
        return _saved(row) if row else None


def delete_saved_search(catalog: Catalog, search_id: int) -> bool:
    with catalog.db.session() as s:
        res = s.execute(delete(SavedSearchRow).where(SavedSearchRow.id == search_id))
        return bool(res.rowcount)  # type: ignore[attr-defined]


def delete_workspace_data_of(catalog: Catalog, recording_ids: Sequence[str]) -> None:
    """Retention: a deleted call's categories and custom values go with it."""
    with catalog.db.session() as s:
        ids = list(recording_ids)
        s.execute(delete(RecordingCategoryRow).where(RecordingCategoryRow.recording_id.in_(ids)))
        s.execute(delete(RecordingFieldRow).where(RecordingFieldRow.recording_id.in_(ids)))
