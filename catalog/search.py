"""Search over recordings in SQL: the full-text index (SQLite FTS5 / PostgreSQL tsvector + GIN),
condition operators compiled to WHERE clauses, ranked or newest-first pages, batches for
export and for conditions evaluated outside the database (regex), and counts.

The query model that people write (quick search text, Masergy operators, saved searches) lives
in ``services.search``; it hands this module validated, typed :class:`Condition` values. Only
this module and the migration know the index's tables.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, exists, false, func, literal, not_, or_, select, true

from catalog.models import Recording
from catalog.notes import NoteRow
from catalog.portal_queries import (
    CursorError,
    RecordingQuery,
    Visibility,
    _ts,
    decode_cursor,
    encode_cursor,
    visibility_clauses,
)
from catalog.repository import Catalog, recording_from_row
from catalog.tables import DeliveryRow, RecordingRow, TranscriptRow
from catalog.trigger_tables import TriggerMatchRow
from catalog.workspace_tables import RecordingCategoryRow, RecordingFieldRow

FTS_COLUMNS = ("parties", "transcript", "notes", "labels")
_PG_WEIGHT = {"parties": "A", "transcript": "B", "notes": "C", "labels": "D"}

search_docs = sa.table(
    "search_docs", sa.column("doc_id"), sa.column("recording_id"), sa.column("tsv")
)
search_fts = sa.table("search_fts", sa.column("rowid"))


@dataclass(frozen=True)
class FtsQuery:
    """Groups that must all occur; a group is a word or a phrase (words in order). Every last
    word of a group also matches as a word beginning ("refund" finds "refunds")."""

    groups: tuple[tuple[str, ...], ...]
    column: str | None = None  # one of FTS_COLUMNS, or every column

    def sqlite(self) -> str:
        parts = []
        for g in self.groups:
            phrase = '"' + " ".join(g) + '"*'
            parts.append(f"{{{self.column}}}: {phrase}" if self.column else phrase)
        return " AND ".join(parts)

    def postgres(self) -> str:
        w = _PG_WEIGHT[self.column] if self.column else ""
        parts = []
        for g in self.groups:
            words = [f"{t}:{w}" if w else t for t in g[:-1]] + [f"{g[-1]}:*{w}"]
            parts.append("(" + " <-> ".join(words) + ")")
        return " & ".join(parts)


@dataclass(frozen=True)
class Condition:
    """One typed condition. ``field`` is canonical (see FIELDS in services.search); ``value`` is
    a str, a float, a datetime, a (low, high) pair, an FtsQuery or a frozenset of numbers."""

    field: str
    op: str
    value: Any = None
    key: str = ""  # the custom field's name


@dataclass(frozen=True)
class SearchSpec:
    base: RecordingQuery = field(default_factory=RecordingQuery)
    text: FtsQuery | None = None  # quick search: ranked by the index
    match: str = "all"  # all | any, over ``conditions``
    conditions: tuple[Condition, ...] = ()
    filters: tuple[Condition, ...] = ()  # always ANDed (category, user, view)


class SearchCursorError(CursorError):
    pass


# ---------------------------------------------------------------- compiling


def _fts_ids(catalog: Catalog, q: FtsQuery) -> sa.Select[Any]:
    if catalog.db.is_sqlite:
        return (
            select(search_docs.c.recording_id)
            .select_from(search_fts.join(search_docs, search_docs.c.doc_id == search_fts.c.rowid))
            .where(sa.literal_column("search_fts").op("MATCH")(literal(q.sqlite())))
        )
    return select(search_docs.c.recording_id).where(search_docs.c.tsv.op("@@")(_tsquery(q)))


def _tsquery(q: FtsQuery) -> ColumnElement[Any]:
    return func.to_tsquery(sa.literal_column("'simple'::regconfig"), literal(q.postgres()))


def _like_pattern(value: str) -> str:
    """``*`` any run, ``?`` one character; everything else literal."""
    out = []
    for ch in value.lower():
        if ch in "%_\\":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def _text_op(col: Any, op: str, v: Any, *, exact: bool = False) -> ColumnElement[bool]:
    if op == "equal":
        return col == v if exact else func.lower(col) == str(v).lower()
    if op == "not_equal":
        return col != v if exact else func.lower(col) != str(v).lower()
    if op == "starts_with":
        return col.istartswith(v, autoescape=True)  # type: ignore[no-any-return]
    if op == "ends_with":
        return col.iendswith(v, autoescape=True)  # type: ignore[no-any-return]
    if op == "includes":
        return col.icontains(v, autoescape=True)  # type: ignore[no-any-return]
    if op == "empty":
        return or_(col.is_(None), col == "")
    if op == "not_empty":
        return and_(col.is_not(None), col != "")
    if op == "pattern":
        return func.lower(col).like(_like_pattern(v), escape="\\")
    if op == "before":
        return col < v  # type: ignore[no-any-return]
    if op == "after":
        return col > v  # type: ignore[no-any-return]
    if op == "between":
        return and_(col >= v[0], col <= v[1])
    raise ValueError(f"operator {op} cannot run in the database")


def _child(
    parent_key: Any, child_key: Any, col: Any, op: str, v: Any, *extra: Any
) -> ColumnElement[bool]:
    """A multi-valued field (notes, categories, …): positive operators need one value that
    matches; not_equal means none equals; empty means none is non-empty."""
    base = [child_key == parent_key, *extra]
    if op == "not_equal":
        return ~exists().where(*base, _text_op(col, "equal", v))
    if op == "empty":
        return ~exists().where(*base, _text_op(col, "not_empty", v))
    return exists().where(*base, _text_op(col, op, v))


_ROW_TEXT = {
    "call_id": (RecordingRow.call_id, True),
    "from_number": (RecordingRow.from_number, True),
    "to_number": (RecordingRow.to_number, True),
    "from_name": (RecordingRow.from_name, False),
    "to_name": (RecordingRow.to_name, False),
    "direction": (RecordingRow.direction, True),
    "status": (RecordingRow.status, True),
}


def compile_condition(catalog: Catalog, c: Condition) -> ColumnElement[bool]:
    rid = RecordingRow.id
    if c.field in _ROW_TEXT:
        col, exact = _ROW_TEXT[c.field]
        return _text_op(col, c.op, c.value, exact=exact)
    if c.field == "number":  # either party
        a = _text_op(RecordingRow.from_number, c.op, c.value, exact=True)
        b = _text_op(RecordingRow.to_number, c.op, c.value, exact=True)
        return and_(a, b) if c.op in ("not_equal", "empty") else or_(a, b)
    if c.field == "parties_in":  # a user's numbers (frozenset)
        nums = sorted(c.value)
        hit = (
            or_(RecordingRow.from_number.in_(nums), RecordingRow.to_number.in_(nums))
            if nums
            else false()
        )
        return not_(hit) if c.op == "not_equal" else hit
    if c.field == "duration":
        dur = RecordingRow.duration_seconds
        if c.op == "empty":
            return dur <= 0
        if c.op == "not_empty":
            return dur > 0
        return _text_op(dur, c.op, c.value, exact=True)
    if c.field == "started_at":
        when = RecordingRow.started_at
        if c.op == "empty":
            return false()
        if c.op == "not_empty":
            return true()
        if c.op == "between":
            return and_(when >= _ts(catalog, c.value[0]), when <= _ts(catalog, c.value[1]))
        if c.op in ("equal", "not_equal"):  # the same UTC day
            day0 = _ts(catalog, c.value)
            same = and_(when >= day0, when < day0 + timedelta(days=1))
            return same if c.op == "equal" else not_(same)
        return _text_op(when, c.op, _ts(catalog, c.value), exact=True)
    if c.field in ("transcript", "note") and isinstance(c.value, FtsQuery):
        return rid.in_(_fts_ids(catalog, c.value))
    if c.field == "transcript":
        return _child(rid, TranscriptRow.recording_id, TranscriptRow.text, c.op, c.value)
    if c.field == "note":
        return _child(rid, NoteRow.recording_id, NoteRow.text, c.op, c.value)
    if c.field == "category":
        return _child(
            rid, RecordingCategoryRow.recording_id, RecordingCategoryRow.category, c.op, c.value
        )
    if c.field == "custom":
        return _child(
            rid,
            RecordingFieldRow.recording_id,
            RecordingFieldRow.value,
            c.op,
            c.value,
            RecordingFieldRow.name == c.key,
        )
    if c.field == "rule":
        return _child(rid, TriggerMatchRow.recording_id, TriggerMatchRow.rule, c.op, c.value)
    if c.field == "delivery_status":
        return _child(
            rid,
            DeliveryRow.subject_id,
            DeliveryRow.status,
            c.op,
            c.value,
            DeliveryRow.subject_kind == "recording",
        )
    if c.field == "text":  # quick search text as a condition (saved searches combine them)
        return rid.in_(_fts_ids(catalog, c.value))
    raise ValueError(f"unknown field {c.field}")


def _where(
    catalog: Catalog, spec: SearchSpec, vis: Visibility, *, text: bool, conditions: bool
) -> list[Any]:
    b = spec.base
    out: list[Any] = list(visibility_clauses(vis))
    if b.since:
        out.append(RecordingRow.started_at >= _ts(catalog, b.since))
    if b.until:
        out.append(RecordingRow.started_at < _ts(catalog, b.until))
    if b.number:
        out.append(or_(RecordingRow.from_number == b.number, RecordingRow.to_number == b.number))
    if b.status:
        out.append(RecordingRow.status == b.status)
    if b.direction:
        out.append(RecordingRow.direction == b.direction)
    out += [compile_condition(catalog, c) for c in spec.filters]
    if text and spec.text is not None:
        out.append(RecordingRow.id.in_(_fts_ids(catalog, spec.text)))
    if conditions and spec.conditions:
        out.append(_combined(catalog, spec))
    return out


def _combined(catalog: Catalog, spec: SearchSpec) -> ColumnElement[bool]:
    parts = [compile_condition(catalog, c) for c in spec.conditions]
    return and_(*parts) if spec.match == "all" else or_(*parts)


# ---------------------------------------------------------------- pages


@dataclass
class Hit:
    recording: Recording
    score: float | None = None
    matched: bool = True  # for flag mode: did the SQL conditions match


def _rel_cursor(offset: int) -> str:
    return "rel" + base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _rel_offset(cursor: str) -> int:
    try:
        raw = cursor[3:]
        n = int(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise SearchCursorError("malformed cursor") from e
    if n < 0 or n > 10_000_000:
        raise SearchCursorError("malformed cursor")
    return n


def _keyset(catalog: Catalog, cursor: str) -> ColumnElement[bool]:
    ts, rec_id = decode_cursor(cursor)
    t = _ts(catalog, ts)
    return or_(
        RecordingRow.started_at < t,
        and_(RecordingRow.started_at == t, RecordingRow.id < rec_id),
    )


def search_page(
    catalog: Catalog,
    spec: SearchSpec,
    vis: Visibility,
    *,
    cursor: str | None = None,
    limit: int = 50,
    order: str = "relevance",
) -> tuple[list[Hit], str | None]:
    """One page. With quick-search text and ``order='relevance'`` the index ranks (bm25 on
    SQLite, ts_rank_cd on PostgreSQL) and cursors are offsets; otherwise newest first, keyset."""
    limit = max(1, min(limit, 500))
    if spec.text is not None and order == "relevance":
        return _ranked_page(catalog, spec, vis, cursor=cursor, limit=limit)
    q = select(RecordingRow).order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc())
    for w in _where(catalog, spec, vis, text=True, conditions=True):
        q = q.where(w)
    if cursor:
        if cursor.startswith("rel"):
            raise SearchCursorError("this cursor belongs to a ranked search")
        q = q.where(_keyset(catalog, cursor))
    with catalog.db.session() as s:
        rows = [Hit(recording_from_row(r)) for r in s.scalars(q.limit(limit + 1))]
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].recording)
    return rows, None


def _ranked_page(
    catalog: Catalog, spec: SearchSpec, vis: Visibility, *, cursor: str | None, limit: int
) -> tuple[list[Hit], str | None]:
    """The index ranks every match (bm25 / ts_rank_cd) inside a subquery; visibility and
    filters join it and sort narrow (id, score) rows; only the page's recordings are loaded.
    (Ranking a window of the best candidates first and joining after measured no faster,
    since the index computes the score of every match either way.)"""
    assert spec.text is not None
    offset = 0
    if cursor:
        if not cursor.startswith("rel"):
            raise SearchCursorError("this cursor belongs to a newest-first list")
        offset = _rel_offset(cursor)
    order: list[Any]
    if catalog.db.is_sqlite:
        score = func.bm25(sa.literal_column("search_fts"), 10.0, 1.0, 2.0, 4.0)
        ranked = (
            select(search_fts.c.rowid.label("doc"), score.label("score"))
            .where(sa.literal_column("search_fts").op("MATCH")(literal(spec.text.sqlite())))
            .subquery("ranked")
        )
        q = select(RecordingRow.id, ranked.c.score).select_from(
            ranked.join(search_docs, search_docs.c.doc_id == ranked.c.doc).join(
                RecordingRow, RecordingRow.id == search_docs.c.recording_id
            )
        )
        order = [ranked.c.score, RecordingRow.started_at.desc(), RecordingRow.id.desc()]
    else:
        tsq = _tsquery(spec.text)
        ranked = (
            select(
                search_docs.c.recording_id.label("rid"),
                func.ts_rank_cd(search_docs.c.tsv, tsq).label("score"),
            )
            .where(search_docs.c.tsv.op("@@")(tsq))
            .subquery("ranked")
        )
        q = select(RecordingRow.id, ranked.c.score).select_from(
            ranked.join(RecordingRow, RecordingRow.id == ranked.c.rid)
        )
        order = [ranked.c.score.desc(), RecordingRow.started_at.desc(), RecordingRow.id.desc()]
    for w in _where(catalog, spec, vis, text=False, conditions=True):
        q = q.where(w)
    q = q.order_by(*order).offset(offset).limit(limit + 1)
    with catalog.db.session() as s:
        page = [(rid, float(sc)) for rid, sc in s.execute(q)]
        wanted = [rid for rid, _ in page]
        by_id = {
            r.id: r for r in s.scalars(select(RecordingRow).where(RecordingRow.id.in_(wanted)))
        }
        rows = [Hit(recording_from_row(by_id[rid]), score=sc) for rid, sc in page if rid in by_id]
    if len(rows) > limit:
        return rows[:limit], _rel_cursor(offset + limit)
    return rows, None


def iter_search(
    catalog: Catalog,
    spec: SearchSpec,
    vis: Visibility,
    *,
    cursor: str | None = None,
    batch: int = 1000,
    flag: bool = False,
) -> Iterator[list[Hit]]:
    """Every match, newest first, ``batch`` rows at a time (keyset, flat memory). With
    ``flag=True`` the conditions do not filter: each Hit says whether they matched (for
    conditions evaluated outside the database under ``match: any``)."""
    cond = _combined(catalog, spec) if spec.conditions else None
    while True:
        cols: list[Any] = [RecordingRow]
        if flag:
            cols.append(sa.case((cond, 1), else_=0).label("m") if cond is not None else literal(0))
        q = select(*cols).order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc())
        for w in _where(catalog, spec, vis, text=True, conditions=not flag):
            q = q.where(w)
        if cursor:
            q = q.where(_keyset(catalog, cursor))
        with catalog.db.session() as s:
            if flag:
                hits = [
                    Hit(recording_from_row(r), matched=bool(m))
                    for r, m in s.execute(q.limit(batch))
                ]
            else:
                hits = [Hit(recording_from_row(r)) for r in s.scalars(q.limit(batch))]
        if not hits:
            return
        yield hits
        if len(hits) < batch:
            return
        cursor = encode_cursor(hits[-1].recording)


EXPORT_COLUMNS = (
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
)


def iter_rows(
    catalog: Catalog, spec: SearchSpec, vis: Visibility, *, batch: int = 5000
) -> Iterator[list[tuple[Any, ...]]]:
    """Every match newest first as plain tuples in EXPORT_COLUMNS order (no ORM objects): the
    export's fast path when no condition has to run outside the database. ``started_at`` is as
    the database returns it (naive UTC on SQLite)."""
    cols = [getattr(RecordingRow, c) for c in EXPORT_COLUMNS]
    last: tuple[Any, str] | None = None
    while True:
        q = select(*cols).order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc())
        for w in _where(catalog, spec, vis, text=True, conditions=True):
            q = q.where(w)
        if last is not None:
            q = q.where(
                or_(
                    RecordingRow.started_at < last[0],
                    and_(RecordingRow.started_at == last[0], RecordingRow.id < last[1]),
                )
            )
        with catalog.db.session() as s:
            rows = [tuple(r) for r in s.execute(q.limit(batch))]
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        last = (rows[-1][1], rows[-1][0])


def count_search(catalog: Catalog, spec: SearchSpec, vis: Visibility) -> int:
    q = select(func.count()).select_from(RecordingRow)
    for w in _where(catalog, spec, vis, text=True, conditions=True):
        q = q.where(w)
    with catalog.db.session() as s:
        return int(s.scalar(q) or 0)


# ---------------------------------------------------------------- values outside the row


def field_values(
    catalog: Catalog, field_name: str, ids: Sequence[str], key: str = ""
) -> dict[str, list[str]]:
    """The values of a multi-valued field for each recording (for regex conditions, export)."""
    ids = list(ids)
    if not ids:
        return {}
    spec: dict[str, tuple[Any, Any, list[Any]]] = {
        "transcript": (TranscriptRow.recording_id, TranscriptRow.text, []),
        "note": (NoteRow.recording_id, NoteRow.text, []),
        "category": (RecordingCategoryRow.recording_id, RecordingCategoryRow.category, []),
        "custom": (
            RecordingFieldRow.recording_id,
            RecordingFieldRow.value,
            [RecordingFieldRow.name == key],
        ),
        "rule": (TriggerMatchRow.recording_id, TriggerMatchRow.rule, []),
        "delivery_status": (
            DeliveryRow.subject_id,
            DeliveryRow.status,
            [DeliveryRow.subject_kind == "recording"],
        ),
    }
    if field_name not in spec:
        raise ValueError(f"no multi-valued field {field_name}")
    kcol, vcol, extra = spec[field_name]
    out: dict[str, list[str]] = {i: [] for i in ids}
    with catalog.db.session() as s:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for k, v in s.execute(select(kcol, vcol).where(kcol.in_(chunk), *extra)):
                out[k].append(v or "")
    return out


def transcripts_segments(catalog: Catalog, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Transcript segments of several recordings in one query (snippets of a result page)."""
    if not ids:
        return {}
    with catalog.db.session() as s:
        rows = s.execute(
            select(TranscriptRow.recording_id, TranscriptRow.segments).where(
                TranscriptRow.recording_id.in_(list(ids))
            )
        )
        return {rid: list(segs or []) for rid, segs in rows}


def index_stats(catalog: Catalog) -> dict[str, Any]:
    """How many recordings the full-text index holds (for `recflow recordings search --stats`)."""
    with catalog.db.session() as s:
        docs = s.scalar(select(func.count()).select_from(search_docs)) or 0
        recs = s.scalar(select(func.count()).select_from(RecordingRow)) or 0
    return {
        "backend": "sqlite-fts5" if catalog.db.is_sqlite else "postgresql-tsvector-gin",
        "indexed": int(docs),
        "recordings": int(recs),
    }


def cutoff_days(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)
