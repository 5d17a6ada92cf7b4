"""/api/v1 recordings list with quick search, advanced search, views with counts, export
(CSV/XLSX) and saved searches. The query model and its rules live in services.search; these
routes only parse, authorise and shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from catalog.models import Direction, RecordingStatus, assume_utc
from catalog.notes import list_notes
from catalog.portal_queries import CursorError
from portal.deps import MAX_ROW_ID, ApiCaller, Principal, StateDep, client_ip
from portal.recording_pages import visible_recording
from services.search import (
    MAX_CONDITIONS,
    MAX_QUERY_CHARS,
    ConditionIn,
    Result,
    SearchError,
    SearchQuery,
    run_search,
)
from services.workspace import (
    compile_for,
    details,
    export_csv,
    export_xlsx,
    save_search,
    saved_query,
    view_query,
    views,
    visible_saved,
)

router = APIRouter()


class Snippet(BaseModel):
    speaker: str
    start: float
    end: float
    text: str
    highlights: list[list[int]] = Field(description="[start, end) character ranges that matched")


class SearchItem(BaseModel):
    """A recording as in the plain list, plus what search adds."""

    model_config = ConfigDict(extra="allow")

    id: str
    snippets: list[Snippet] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    custom_fields: dict[str, str] = Field(default_factory=dict)
    score: float | None = Field(None, description="Relevance (quick search only)")


class SearchPage(BaseModel):
    items: list[SearchItem]
    next_cursor: str | None = None


class AdvancedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match: Literal["all", "any"] = "all"
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    q: str | None = Field(None, max_length=MAX_QUERY_CHARS)
    category: str | None = Field(None, max_length=64)
    cursor: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
    limit: int = Field(50, ge=1, le=500)


class SavedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    query: dict[str, Any]
    shared: bool = False


class SavedOut(BaseModel):
    id: int
    name: str
    owner: str
    shared: bool
    query: dict[str, Any]
    created_at: datetime


class ViewOut(BaseModel):
    key: str
    label: str
    count: int | None


def _bad(e: Exception) -> HTTPException:
    return HTTPException(400, str(e)[:500])


def _list_query(
    st: Any,
    caller: Principal,
    *,
    q: str | None,
    since: datetime | None,
    until: datetime | None,
    number: str | None,
    status: RecordingStatus | None,
    direction: Direction | None,
    category: str | None,
    user: str | None,
    view: str | None,
    saved: int | None,
) -> SearchQuery:
    try:
        query = SearchQuery(
            q=q,
            since=assume_utc(since),
            until=assume_utc(until),
            number=number or None,
            status=status.value if status else None,
            direction=direction.value if direction else None,
            category=category or None,
            user=user or None,
        )
        query = view_query(view, caller.user.email if caller.user else None).merged(query)
        if saved is not None:
            try:
                base = saved_query(st.catalog, saved, caller.name, admin=caller.is_admin)
            except LookupError as e:
                raise HTTPException(404, str(e)) from None
            query = base.merged(query)
        return query
    except SearchError as e:
        raise _bad(e) from None


def _page(
    st: Any,
    caller: Principal,
    query: SearchQuery,
    cursor: str | None,
    limit: int,
    sort: str = "relevance",
) -> SearchPage:
    from portal.api_recording import _out

    try:
        compiled = compile_for(st.catalog, query, st.clock())
        res: Result = run_search(
            st.catalog, compiled, caller.visibility(), cursor=cursor, limit=limit, order=sort
        )
    except SearchError as e:
        raise _bad(e) from None
    except CursorError:
        raise HTTPException(400, "malformed cursor") from None
    ids = [h.recording.id for h in res.hits]
    cats, custom = details(st.catalog, ids)
    items = []
    for h in res.hits:
        rid = h.recording.id
        items.append(
            SearchItem(
                **_out(h.recording).model_dump(),
                snippets=[Snippet(**s) for s in res.snippets.get(rid, [])],
                categories=cats.get(rid, []),
                custom_fields=custom.get(rid, {}),
                score=h.score,
            )
        )
    return SearchPage(items=items, next_cursor=res.next_cursor)


Cursor = Annotated[
    str | None,
    Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$", description="next_cursor of the last page"),
]


@router.get("/recordings", response_model=SearchPage, tags=["recordings"])
def list_recordings(
    caller: ApiCaller,
    st: StateDep,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_CHARS,
            description="Quick search: numbers, names, notes, "
            'categories and what was said; "quoted phrases"; ranked',
        ),
    ] = None,
    since: Annotated[datetime | None, Query(description="Started at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Started before (ISO 8601)")] = None,
    number: Annotated[str | None, Query(max_length=64, description="Caller or callee")] = None,
    status: RecordingStatus | None = None,
    direction: Direction | None = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    user: Annotated[
        str | None, Query(max_length=320, description="A user's email: their calls")
    ] = None,
    view: Annotated[
        str | None, Query(max_length=80, description="all, mine, unassigned, category:NAME")
    ] = None,
    saved: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="Run this saved search")
    ] = None,
    sort: Annotated[
        Literal["relevance", "newest"],
        Query(description="With q: best match first (default) or newest first"),
    ] = "relevance",
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SearchPage:
    """Recordings, newest first (ranked by relevance when `q` is given), one page at a time;
    quick-search hits carry the matching transcript lines as `snippets`."""
    query = _list_query(
        st,
        caller,
        q=q,
        since=since,
        until=until,
        number=number,
        status=status,
        direction=direction,
        category=category,
        user=user,
        view=view,
        saved=saved,
    )
    return _page(st, caller, query, cursor, limit, sort)


@router.post("/recordings/search", response_model=SearchPage, tags=["recordings"])
def advanced_search(body: AdvancedIn, caller: ApiCaller, st: StateDep) -> SearchPage:
    """Advanced search: conditions `{field, op, value}` combined with `match` all/any.

    Fields: call_id, from_number, to_number, number, from_name, to_name, direction, status,
    duration, started_at, transcript, note, category, rule, delivery_status, user,
    custom.NAME. Operators: equal, not_equal, starts_with, ends_with, includes, empty,
    not_empty, pattern (`*`, `?`), regex (bounded), before, after, between, older_than_days,
    newer_than_days."""
    try:
        query = SearchQuery(
            q=body.q, match=body.match, conditions=body.conditions, category=body.category
        )
    except SearchError as e:
        raise _bad(e) from None
    return _page(st, caller, query, body.cursor, body.limit)


@router.get("/recordings/views", response_model=list[ViewOut], tags=["recordings"])
def list_views(caller: ApiCaller, st: StateDep) -> list[ViewOut]:
    """All, mine, not assigned and one per category, with counts of what the caller may see."""
    me = caller.user.email if caller.user else None
    nums = list(caller.user.numbers) if caller.user else []
    out = views(st.catalog, caller.visibility(), me=me, my_numbers=nums)
    return [ViewOut(key=v.key, label=v.label, count=v.count) for v in out]


@router.get(
    "/recordings/export",
    tags=["recordings"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
def export(
    request: Request,
    caller: ApiCaller,
    st: StateDep,
    format: Literal["csv", "xlsx"] = "csv",
    q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    number: Annotated[str | None, Query(max_length=64)] = None,
    status: RecordingStatus | None = None,
    direction: Direction | None = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    user: Annotated[str | None, Query(max_length=320)] = None,
    view: Annotated[str | None, Query(max_length=80)] = None,
    saved: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Any:
    """Every recording the same filters list (not one page), as CSV (streamed) or XLSX."""
    query = _list_query(
        st,
        caller,
        q=q,
        since=since,
        until=until,
        number=number,
        status=status,
        direction=direction,
        category=category,
        user=user,
        view=view,
        saved=saved,
    )
    try:
        compiled = compile_for(st.catalog, query, st.clock())
    except SearchError as e:
        raise _bad(e) from None
    st.audit.record(
        "recordings.export",
        initiator=caller.name,
        client_ip=client_ip(request),
        detail=f"{format} {query.model_dump_json(exclude_defaults=True)}"[:500],
    )
    stamp = st.clock().strftime("%Y%m%d-%H%M%S")
    vis = caller.visibility()
    if format == "csv":
        return StreamingResponse(
            export_csv(st.catalog, compiled, vis),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="recordings-{stamp}.csv"'},
        )
    try:
        path = export_xlsx(st.catalog, compiled, vis)
    except SearchError as e:
        raise _bad(e) from None
    return FileResponse(
        path,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename=f"recordings-{stamp}.xlsx",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


class RecordingDetail(SearchItem):
    notes_count: int
    pinned_notes: int


# "views" is a sibling route, declared first, so it never reaches this one; the schema says so
RecordingIdPath = Annotated[str, Path(json_schema_extra={"not": {"const": "views"}})]


@router.get("/recordings/{recording_id}", response_model=RecordingDetail, tags=["recordings"])
def get_recording(
    recording_id: RecordingIdPath, caller: ApiCaller, st: StateDep
) -> RecordingDetail:
    """One recording with its categories, custom fields and how many notes it has."""
    from portal.api_recording import _out

    rec = visible_recording(st, caller, recording_id)
    cats, custom = details(st.catalog, [rec.id])
    notes = list_notes(st.catalog, rec.id)
    return RecordingDetail(
        **_out(rec).model_dump(),
        categories=cats.get(rec.id, []),
        custom_fields=custom.get(rec.id, {}),
        notes_count=len(notes),
        pinned_notes=sum(1 for n in notes if n.pinned),
    )


@router.post("/saved-searches", response_model=SavedOut, status_code=201, tags=["saved searches"])
def create_saved(request: Request, body: SavedIn, caller: ApiCaller, st: StateDep) -> SavedOut:
    """Save a search (`query` as the list's filters: q, match, conditions, category, …);
    `shared` makes it visible to everyone who may search."""
    try:
        s = save_search(st.catalog, body.name, caller.name, body.query, shared=body.shared)
    except SearchError as e:
        raise _bad(e) from None
    st.audit.record(
        "saved_search.create",
        initiator=caller.name,
        client_ip=client_ip(request),
        resource=f"saved_search:{s.id}",
        detail=body.name,
    )
    return SavedOut(**s.model_dump())


@router.get("/saved-searches", response_model=list[SavedOut], tags=["saved searches"])
def list_saved(caller: ApiCaller, st: StateDep) -> list[SavedOut]:
    """The caller's own saved searches and the shared ones."""
    return [SavedOut(**s.model_dump()) for s in visible_saved(st.catalog, caller.name)]
