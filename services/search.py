"""The recordings workspace's query model: quick search (one box), advanced search with the
Masergy operators combined with all/any, saved searches, snippets with highlights.

People's queries are validated here into typed ``catalog.search.Condition`` values that the
catalog compiles to SQL (the full-text index serves text; LIKE/equality serve the rest). A regex
never reaches the database: it is compiled here with a size limit and run with the ``regex``
module's per-match timeout over candidate rows streamed from the catalog, under a total scan
and time budget.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from catalog.models import Recording, assume_utc, utcnow
from catalog.portal_queries import RecordingQuery, Visibility
from catalog.repository import Catalog
from catalog.search import (
    Condition,
    FtsQuery,
    Hit,
    SearchSpec,
    count_search,
    field_values,
    iter_search,
    search_page,
    transcripts_segments,
)

MAX_QUERY_CHARS = 500
MAX_TERMS = 16
MAX_CONDITIONS = 20
MAX_VALUE_CHARS = 500
MAX_REGEX_CHARS = 200
REGEX_MATCH_TIMEOUT = 0.05  # seconds per value
REGEX_SCAN_ROWS = 200_000  # candidates one regex search may look at
REGEX_SCAN_SECONDS = 5.0
SNIPPETS_PER_HIT = 3

OPS = (
    "equal",
    "not_equal",
    "starts_with",
    "ends_with",
    "includes",
    "empty",
    "not_empty",
    "pattern",
    "regex",
    "before",
    "after",
    "between",
    "older_than_days",
    "newer_than_days",
)
_TEXT_OPS = {
    "equal",
    "not_equal",
    "starts_with",
    "ends_with",
    "includes",
    "empty",
    "not_empty",
    "pattern",
    "regex",
}
_NUM_OPS = {"equal", "not_equal", "before", "after", "between", "empty", "not_empty"}
_DATE_OPS = _NUM_OPS | {"older_than_days", "newer_than_days"}
_MULTI_OPS = _TEXT_OPS

# field -> kind: text (a column), number, date, fulltext (index-backed text), multi (values in
# another table), user (a user's numbers)
FIELDS: dict[str, str] = {
    "call_id": "text",
    "from_number": "text",
    "to_number": "text",
    "number": "text",
    "from_name": "text",
    "to_name": "text",
    "direction": "text",
    "status": "text",
    "duration": "number",
    "started_at": "date",
    "transcript": "fulltext",
    "note": "multi",
    "category": "multi",
    "rule": "multi",
    "delivery_status": "multi",
    "user": "user",
}
_ALIASES = {"date": "started_at", "notes": "note", "duration_seconds": "duration"}
_KIND_OPS = {
    "text": _TEXT_OPS,
    "number": _NUM_OPS,
    "date": _DATE_OPS,
    "fulltext": _TEXT_OPS,
    "multi": _MULTI_OPS,
    "custom": _TEXT_OPS | {"before", "after", "between"},
    "user": {"equal", "not_equal"},
}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PHONE = re.compile(r"^\+?[\d\s().-]{3,}$")


class SearchError(ValueError):
    """A query that cannot run; the message names the field, operator or value at fault."""


class ConditionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(max_length=80)
    op: str = Field(max_length=32)
    value: Any = None


class SearchQuery(BaseModel):
    """Everything a search may say: what a saved search stores and the export honours."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=MAX_QUERY_CHARS)
    match: Literal["all", "any"] = "all"
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    category: str | None = Field(None, max_length=64)
    unassigned: bool = False  # the "not assigned" view: no category
    user: str | None = Field(None, max_length=320)
    since: datetime | None = None
    until: datetime | None = None
    number: str | None = Field(None, max_length=64)
    status: str | None = Field(None, max_length=16)
    direction: str | None = Field(None, max_length=16)

    @field_validator("q")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return (v or "").strip() or None

    def merged(self, other: SearchQuery) -> SearchQuery:
        """``other``'s non-empty fields over this one (a saved search plus the list's filters);
        conditions add up under this one's match mode."""
        data = self.model_dump()
        for k, v in other.model_dump(exclude_defaults=True).items():
            if k == "conditions":
                data["conditions"] = data["conditions"] + v
            elif k == "q" and data.get("q"):
                data["q"] = f"{data['q']} {v}"
            else:
                data[k] = v
        return SearchQuery.model_validate(data)


def parse_query(raw: Any) -> SearchQuery:
    """A dict from JSON into a SearchQuery, or SearchError with a one-line reason."""
    try:
        return SearchQuery.model_validate(raw or {})
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise SearchError(f"{loc or 'query'}: {err['msg']}") from None


# ---------------------------------------------------------------- compiling


def parse_text(text: str, column: str | None = None) -> FtsQuery | None:
    """Quick search text into index groups: words, and "quoted phrases"."""
    if len(text) > MAX_QUERY_CHARS:
        raise SearchError(f"the search text is longer than {MAX_QUERY_CHARS} characters")
    groups: list[tuple[str, ...]] = []
    for i, part in enumerate(text.split('"')):
        words = [w.lower() for w in _WORD.findall(part)]
        if not words:
            continue
        if i % 2 == 1:
            groups.append(tuple(words))
        else:
            groups.extend((w,) for w in words)
    if sum(len(g) for g in groups) > MAX_TERMS:
        raise SearchError(f"the search has more than {MAX_TERMS} words")
    return FtsQuery(tuple(groups), column) if groups else None


@dataclass
class RegexCond:
    field: str
    key: str
    pattern: Any  # a compiled regex.Pattern

    def test(self, value: str) -> bool:
        try:
            return self.pattern.search(value, timeout=REGEX_MATCH_TIMEOUT) is not None
        except TimeoutError:
            raise SearchError(
                f"{self.field}: the regex took longer than {REGEX_MATCH_TIMEOUT * 1000:.0f} ms "
                "on one call; simplify it"
            ) from None


def compile_regex(value: Any, where: str) -> Any:
    if not isinstance(value, str) or not value:
        raise SearchError(f"{where}: regex needs a pattern")
    if len(value) > MAX_REGEX_CHARS:
        raise SearchError(f"{where}: a regex is limited to {MAX_REGEX_CHARS} characters")
    try:
        return regex.compile(value, regex.IGNORECASE | regex.V0)
    except regex.error as e:
        raise SearchError(f"{where}: not a valid regex ({e})") from None


def _as_text(v: Any, where: str) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, (list, dict)):
        raise SearchError(f"{where}: needs a text value")
    s = str(v)
    if len(s) > MAX_VALUE_CHARS:
        raise SearchError(f"{where}: value longer than {MAX_VALUE_CHARS} characters")
    return s


def _as_number(v: Any, where: str) -> float:
    try:
        if isinstance(v, bool):
            raise TypeError
        return float(v)
    except (TypeError, ValueError):
        raise SearchError(f"{where}: needs a number, got {v!r}"[:200]) from None


def _as_date(v: Any, where: str) -> datetime:
    if isinstance(v, datetime):
        return assume_utc(v)  # type: ignore[return-value]
    if isinstance(v, str) and len(v) <= 40:
        try:
            if len(v) == 10:
                return datetime.combine(date.fromisoformat(v), datetime.min.time(), tzinfo=UTC)
            return assume_utc(datetime.fromisoformat(v.replace("Z", "+00:00")))  # type: ignore[return-value]
        except ValueError:
            pass
    raise SearchError(f"{where}: needs a date (YYYY-MM-DD or ISO 8601), got {v!r}"[:200])


def _pair(v: Any, where: str) -> tuple[Any, Any]:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return v[0], v[1]
    if isinstance(v, dict) and {"from", "to"} <= set(v):
        return v["from"], v["to"]
    raise SearchError(f'{where}: between needs [low, high] or {{"from": …, "to": …}}')


@dataclass
class Compiled:
    spec: SearchSpec
    regexes: list[RegexCond] = field(default_factory=list)
    highlight: list[FtsQuery] = field(default_factory=list)
    highlight_regex: list[Any] = field(default_factory=list)


UserNumbers = Callable[[str], list[str] | None]


def compile_condition(
    c: ConditionIn,
    *,
    now: datetime,
    user_numbers: UserNumbers,
    custom_fields: dict[str, str],
) -> Condition | RegexCond:
    name = _ALIASES.get(c.field, c.field)
    key = ""
    if name.startswith("custom."):
        key = name.split(".", 1)[1]
        if key not in custom_fields:
            known = ", ".join(sorted(custom_fields)) or "none defined"
            raise SearchError(f"unknown custom field {key!r} (known: {known})")
        kind, name = "custom", "custom"
    elif name in FIELDS:
        kind = FIELDS[name]
    else:
        raise SearchError(
            f"unknown field {c.field!r} (fields: {', '.join(FIELDS)}, custom.<name>)"[:300]
        )
    if c.op not in OPS:
        raise SearchError(f"unknown operator {c.op!r} (operators: {', '.join(OPS)})")
    if c.op not in _KIND_OPS[kind]:
        raise SearchError(f"operator {c.op} does not apply to field {c.field}")
    where = f"{c.field} {c.op}"
    op, v = c.op, c.value
    if op == "regex":
        return RegexCond(name, key, compile_regex(v, where))
    if op in ("empty", "not_empty"):
        return Condition(name, op, None, key)
    if kind == "user":
        nums = user_numbers(_as_text(v, where))
        if nums is None:
            raise SearchError(f"{where}: no user {v!r}"[:200])
        return Condition("parties_in", op, frozenset(nums))
    if kind == "number":
        if op == "between":
            lo, hi = _pair(v, where)
            return Condition(name, op, (_as_number(lo, where), _as_number(hi, where)))
        return Condition(name, op, _as_number(v, where))
    if kind == "date":
        if op in ("older_than_days", "newer_than_days"):
            days = _as_number(v, where)
            if not 0 <= days <= 36_500:
                raise SearchError(f"{where}: days must be between 0 and 36500")
            cutoff = now - timedelta(days=days)
            return Condition(name, "before" if op == "older_than_days" else "after", cutoff)
        if op == "between":
            lo, hi = _pair(v, where)
            return Condition(name, op, (_as_date(lo, where), _as_date(hi, where)))
        return Condition(name, op, _as_date(v, where))
    if op == "between":
        lo, hi = _pair(v, where)
        return Condition(name, op, (_as_text(lo, where), _as_text(hi, where)), key)
    text = _as_text(v, where)
    if kind == "fulltext" and op == "includes":
        fts = parse_text(text, "transcript")
        if fts is None:
            raise SearchError(f"{where}: needs at least one word")
        return Condition(name, op, fts)
    return Condition(name, op, text, key)


def compile_query(
    query: SearchQuery,
    *,
    now: datetime | None = None,
    user_numbers: UserNumbers = lambda _u: None,
    custom_fields: dict[str, str] | None = None,
) -> Compiled:
    now = now or utcnow()
    base = RecordingQuery(
        since=assume_utc(query.since),
        until=assume_utc(query.until),
        number=query.number or None,
        status=query.status or None,
        direction=query.direction or None,
    )
    filters: list[Condition] = []
    if query.category:
        filters.append(Condition("category", "equal", query.category))
    if query.unassigned:
        filters.append(Condition("category", "empty"))
    if query.user:
        nums = user_numbers(query.user)
        if nums is None:
            raise SearchError(f"user: no user {query.user!r}"[:200])
        filters.append(Condition("parties_in", "equal", frozenset(nums)))
    text: FtsQuery | None = None
    highlight: list[FtsQuery] = []
    if query.q:
        if _PHONE.match(query.q) and sum(ch.isdigit() for ch in query.q) >= 3:
            digits = re.sub(r"[^\d+]", "", query.q)
            filters.append(Condition("number", "includes", digits))
        else:
            text = parse_text(query.q)
            if text is not None:
                highlight.append(text)
    conds: list[Condition] = []
    regexes: list[RegexCond] = []
    for i, c in enumerate(query.conditions):
        try:
            out = compile_condition(
                c, now=now, user_numbers=user_numbers, custom_fields=custom_fields or {}
            )
        except SearchError as e:
            raise SearchError(f"conditions[{i}]: {e}") from None
        if isinstance(out, RegexCond):
            regexes.append(out)
        else:
            conds.append(out)
            if isinstance(out.value, FtsQuery):
                highlight.append(out.value)
    spec = SearchSpec(
        base=base, text=text, match=query.match, conditions=tuple(conds), filters=tuple(filters)
    )
    return Compiled(
        spec,
        regexes,
        highlight,
        [r.pattern for r in regexes if r.field == "transcript"],
    )


# ---------------------------------------------------------------- running


_ROW_FIELDS = {
    "call_id": "call_id",
    "from_number": "from_number",
    "to_number": "to_number",
    "from_name": "from_name",
    "to_name": "to_name",
    "direction": "direction",
    "status": "status",
}


def _regex_values(catalog: Catalog, r: RegexCond, recs: list[Recording]) -> dict[str, list[str]]:
    if r.field in _ROW_FIELDS:
        attr = _ROW_FIELDS[r.field]
        return {x.id: [str(getattr(getattr(x, attr), "value", getattr(x, attr)))] for x in recs}
    if r.field == "number":
        return {x.id: [x.from_number, x.to_number] for x in recs}
    return field_values(catalog, r.field, [x.id for x in recs], r.key)


def _regex_filter(
    catalog: Catalog, compiled: Compiled, hits: list[Hit], *, any_mode: bool
) -> list[Hit]:
    recs = [h.recording for h in hits]
    per = [(r, _regex_values(catalog, r, recs)) for r in compiled.regexes]
    out = []
    for h in hits:
        results = (any(r.test(v) for v in vals[h.recording.id]) for r, vals in per)
        if any_mode:
            if (h.matched and compiled.spec.conditions) or any(results):
                out.append(h)
        elif all(results):
            out.append(h)
    return out


def iter_matches(
    catalog: Catalog,
    compiled: Compiled,
    vis: Visibility,
    *,
    cursor: str | None = None,
    batch: int = 1000,
    scan_rows: int | None = REGEX_SCAN_ROWS,
    scan_seconds: float | None = REGEX_SCAN_SECONDS,
) -> Iterable[list[Hit]]:
    """Every match newest first, in batches (export, and pages of regex searches)."""
    if not compiled.regexes:
        yield from iter_search(catalog, compiled.spec, vis, cursor=cursor, batch=batch)
        return
    any_mode = compiled.spec.match == "any"
    started, scanned = time.monotonic(), 0
    for hits in iter_search(catalog, compiled.spec, vis, cursor=cursor, batch=batch, flag=any_mode):
        scanned += len(hits)
        kept = _regex_filter(catalog, compiled, hits, any_mode=any_mode)
        if kept:
            yield kept
        if (scan_rows is not None and scanned >= scan_rows) or (
            scan_seconds is not None and time.monotonic() - started > scan_seconds
        ):
            raise SearchError(
                f"the regex search looked at {scanned} calls without finishing; add a "
                "condition that narrows it (a date range, a number, a word in the transcript)"
            )


@dataclass
class Result:
    hits: list[Hit]
    next_cursor: str | None
    snippets: dict[str, list[dict[str, Any]]]


def run_search(
    catalog: Catalog,
    compiled: Compiled,
    vis: Visibility,
    *,
    cursor: str | None = None,
    limit: int = 50,
    order: str = "relevance",
) -> Result:
    limit = max(1, min(limit, 500))
    if not compiled.regexes:
        hits, nxt = search_page(
            catalog, compiled.spec, vis, cursor=cursor, limit=limit, order=order
        )
    else:
        if cursor and cursor.startswith("rel"):
            raise SearchError("this cursor belongs to a ranked search")
        hits = []
        nxt = None
        for batch in iter_matches(catalog, compiled, vis, cursor=cursor, batch=500):
            hits.extend(batch)
            if len(hits) > limit:
                break
        if len(hits) > limit:
            from catalog.portal_queries import encode_cursor

            hits = hits[:limit]
            nxt = encode_cursor(hits[-1].recording)
    return Result(hits, nxt, snippets_for(catalog, compiled, [h.recording.id for h in hits]))


def count(catalog: Catalog, compiled: Compiled, vis: Visibility) -> int | None:
    """How many match; None when a regex would need a scan to know."""
    if compiled.regexes:
        return None
    return count_search(catalog, compiled.spec, vis)


# ---------------------------------------------------------------- snippets


def _term_regex(queries: list[FtsQuery]) -> Any | None:
    alts = []
    for q in queries:
        for g in q.groups:
            words = [regex.escape(w) for w in g]
            words[-1] += r"\w*"
            alts.append(r"[\W_]+".join(words))
    if not alts:
        return None
    return regex.compile(r"(?<![^\W_])(?:" + "|".join(alts) + ")", regex.IGNORECASE)


def snippets_for(
    catalog: Catalog, compiled: Compiled, ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """For each recording, up to three transcript lines that match the search's words (or its
    transcript regex), each with the character ranges to highlight."""
    patterns = [p for p in [_term_regex(compiled.highlight)] if p is not None]
    patterns += compiled.highlight_regex
    if not patterns or not ids:
        return {}
    segs = transcripts_segments(catalog, ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for rid, segments in segs.items():
        found = []
        for seg in segments:
            text = str(seg.get("text", "")).strip()
            spans: list[tuple[int, int]] = []
            for p in patterns:
                try:
                    spans += [
                        m.span()
                        for m in p.finditer(text, timeout=REGEX_MATCH_TIMEOUT)
                        if m.end() > m.start()
                    ]
                except TimeoutError:
                    continue
            if spans:
                found.append(
                    {
                        "speaker": seg.get("speaker", ""),
                        "start": float(seg.get("start", 0.0)),
                        "end": float(seg.get("end", 0.0)),
                        "text": text,
                        "highlights": [list(s) for s in sorted(set(spans))],
                    }
                )
            if len(found) >= SNIPPETS_PER_HIT:
                break
        if found:
            out[rid] = found
    return out


def highlight_html(text: str, highlights: list[list[int]]) -> str:
    """The snippet as HTML with <mark> around each highlighted range (everything escaped)."""
    from html import escape

    parts, pos = [], 0
    for start, end in highlights:
        if start < pos:
            continue
        parts.append(escape(text[pos:start]))
        parts.append(f"<mark>{escape(text[start:end])}</mark>")
        pos = end
    parts.append(escape(text[pos:]))
    return "".join(parts)
