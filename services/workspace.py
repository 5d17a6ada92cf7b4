"""The recordings workspace around search: views with counts, categories, custom fields, saved
searches (private or shared) and export (CSV, XLSX) of any result list.

Everything here takes the caller's ``Visibility`` and hands it to the catalog's queries, so a
private call reaches a search result, a count or an export only for its owner and admins.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from catalog.models import utcnow
from catalog.portal_queries import Visibility
from catalog.repository import Catalog
from catalog.search import EXPORT_COLUMNS as ROW_COLUMNS
from catalog.search import iter_rows
from catalog.users import Users
from catalog.workspace import (
    CustomField,
    SavedSearch,
    add_saved_search,
    categories_of,
    custom_values_of,
    get_saved_search,
    list_categories,
    list_custom_fields,
    saved_searches_for,
    set_categories,
    set_custom_values,
)
from services.search import (
    Compiled,
    SearchError,
    SearchQuery,
    compile_query,
    count,
    iter_matches,
    parse_query,
)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
MAX_EXPORT_ROWS = 1_000_000


def user_numbers(catalog: Catalog) -> Callable[[str], list[str] | None]:
    users = Users(catalog)

    def lookup(email: str) -> list[str] | None:
        u = users.by_email(email)
        return None if u is None else list(u.numbers)

    return lookup


def custom_field_kinds(catalog: Catalog) -> dict[str, str]:
    return {f.name: f.kind for f in list_custom_fields(catalog)}


def compile_for(catalog: Catalog, query: SearchQuery, now: datetime | None = None) -> Compiled:
    return compile_query(
        query,
        now=now or utcnow(),
        user_numbers=user_numbers(catalog),
        custom_fields=custom_field_kinds(catalog),
    )


# ---------------------------------------------------------------- saved searches


def save_search(
    catalog: Catalog, name: str, owner: str, raw_query: Any, *, shared: bool = False
) -> SavedSearch:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise SearchError("a saved search needs a name of 1 to 200 characters")
    query = parse_query(raw_query)
    compile_for(catalog, query)  # a search that cannot run is not saved
    return add_saved_search(
        catalog, name, owner, query.model_dump(mode="json", exclude_defaults=True), shared=shared
    )


def saved_query(catalog: Catalog, search_id: int, caller: str, *, admin: bool) -> SearchQuery:
    """The query of a saved search the caller may run (own, shared, or any for admins)."""
    s = get_saved_search(catalog, search_id)
    if s is None or not (s.shared or s.owner == caller or admin):
        raise LookupError(f"no saved search {search_id}")
    return parse_query(s.query)


def visible_saved(catalog: Catalog, caller: str) -> list[SavedSearch]:
    return saved_searches_for(catalog, caller)


# ---------------------------------------------------------------- views


@dataclass
class View:
    key: str
    label: str
    query: SearchQuery
    count: int | None = None


def views(
    catalog: Catalog, vis: Visibility, *, me: str | None, my_numbers: list[str]
) -> list[View]:
    """Masergy's views with their counts for this caller: all, mine, not assigned, and one per
    category (counts honour visibility, so they never reveal a private call)."""
    out = [View("all", "All recordings", SearchQuery())]
    if me and my_numbers:
        out.append(View("mine", "My recordings", SearchQuery(user=me)))
    out.append(View("unassigned", "Not assigned", SearchQuery(unassigned=True)))
    for c in list_categories(catalog):
        out.append(View(f"category:{c}", c, SearchQuery(category=c)))
    for v in out:
        v.count = count(catalog, compile_for(catalog, v.query), vis)
    return out


def view_query(key: str | None, me: str | None) -> SearchQuery:
    if not key or key == "all":
        return SearchQuery()
    if key == "mine":
        return SearchQuery(user=me) if me else SearchQuery()
    if key == "unassigned":
        return SearchQuery(unassigned=True)
    if key.startswith("category:"):
        return SearchQuery(category=key.split(":", 1)[1][:64])
    raise SearchError(f"unknown view {key!r}")


# ---------------------------------------------------------------- categories and fields


def assign_categories(
    catalog: Catalog, ids: list[str], categories: list[str], *, by: str, mode: str = "replace"
) -> dict[str, tuple[list[str], list[str]]]:
    for c in categories:
        if not isinstance(c, str) or not NAME_RE.match(c):
            raise SearchError(f"not a category name: {str(c)[:80]!r}")
    try:
        return set_categories(catalog, ids, categories, by=by, mode=mode)
    except ValueError as e:
        raise SearchError(str(e)) from None


def validate_custom_values(
    fields: list[CustomField], values: dict[str, Any]
) -> dict[str, str | None]:
    defs = {f.name: f for f in fields}
    out: dict[str, str | None] = {}
    for name, value in values.items():
        f = defs.get(name)
        if f is None:
            raise SearchError(
                f"unknown custom field {name!r} (known: {', '.join(defs) or 'none defined'})"
            )
        if value is None or value == "":
            out[name] = None
            continue
        if not isinstance(value, str) or len(value) > 1000:
            raise SearchError(f"custom field {name}: needs text of at most 1000 characters")
        if f.kind == "date":
            try:
                value = date.fromisoformat(value).isoformat()
            except ValueError:
                raise SearchError(f"custom field {name}: needs a date YYYY-MM-DD") from None
        elif f.kind == "option" and value not in f.options:
            raise SearchError(f"custom field {name}: must be one of {', '.join(f.options)}")
        out[name] = value
    return out


def update_custom_values(
    catalog: Catalog, recording_id: str, values: dict[str, Any], *, by: str
) -> dict[str, tuple[str | None, str | None]]:
    clean = validate_custom_values(list_custom_fields(catalog), values)
    return set_custom_values(catalog, recording_id, clean, by=by)


def details(
    catalog: Catalog, ids: list[str]
) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
    return categories_of(catalog, ids), custom_values_of(catalog, ids)


# ---------------------------------------------------------------- export

EXPORT_COLUMNS = [
    "id",
    "started_at",
    "from_number",
    "from_name",
    "to_number",
    "to_name",
    "direction",
    "duration_seconds",
    "status",
    "private",
    "categories",
]


def _export_rows(
    catalog: Catalog, compiled: Compiled, vis: Visibility, fields: list[str]
) -> Iterator[list[Any]]:
    yield EXPORT_COLUMNS + [f"custom.{f}" for f in fields]
    n = 0
    for batch in _export_batches(catalog, compiled, vis):
        ids = [r[0] for r in batch]
        cats, custom = details(catalog, ids)
        for r in batch:
            yield _row(r, cats.get(r[0], []), custom.get(r[0], {}), fields)
            n += 1
            if n >= MAX_EXPORT_ROWS:
                return


def _export_batches(
    catalog: Catalog, compiled: Compiled, vis: Visibility
) -> Iterator[list[tuple[Any, ...]]]:
    if not compiled.regexes:  # the fast path: plain columns straight from the database
        yield from iter_rows(catalog, compiled.spec, vis)
        return
    for hits in iter_matches(catalog, compiled, vis, batch=2000, scan_rows=None, scan_seconds=None):
        yield [tuple(getattr(h.recording, c) for c in ROW_COLUMNS) for h in hits]


def _row(
    r: tuple[Any, ...], cats: list[str], custom: dict[str, str], fields: list[str]
) -> list[Any]:
    rid, started, frm, frm_name, to, to_name, direction, duration, status, private = r
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return [
        rid,
        started.isoformat(),
        _safe_cell(frm),
        _safe_cell(frm_name),
        _safe_cell(to),
        _safe_cell(to_name),
        str(getattr(direction, "value", direction)),
        round(duration, 1),
        str(getattr(status, "value", status)),
        "yes" if private else "no",
        _safe_cell("; ".join(cats)),
        *[_safe_cell(custom.get(f, "")) for f in fields],
    ]


def _safe_cell(v: str) -> str:
    # a cell starting with = + - @ is a formula to a spreadsheet (CSV injection): quote it
    if v and v[0] in "=+-@" and not _NUMBERISH.match(v):
        return "'" + v
    return v


_NUMBERISH = re.compile(r"^\+?\d[\d\s]*$")


def export_csv(catalog: Catalog, compiled: Compiled, vis: Visibility) -> Iterator[str]:
    """CSV text chunks, generated as the rows are read (flat memory)."""
    fields = [f.name for f in list_custom_fields(catalog)]
    buf = io.StringIO()
    w = csv.writer(buf)
    for i, row in enumerate(_export_rows(catalog, compiled, vis, fields)):
        w.writerow(row)
        if i % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def export_xlsx(
    catalog: Catalog,
    compiled: Compiled,
    vis: Visibility,
    *,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """An XLSX file (openpyxl's write-only mode: rows go straight to disk); the caller streams
    and then deletes it."""
    from openpyxl import Workbook

    fields = [f.name for f in list_custom_fields(catalog)]
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("recordings")
    for n, row in enumerate(_export_rows(catalog, compiled, vis, fields), start=1):
        ws.append(row)
        if progress and n % 1000 == 0:
            progress(n)
    fd, name = tempfile.mkstemp(prefix="recflow-export-", suffix=".xlsx")
    os.close(fd)
    wb.save(name)
    return Path(name)
