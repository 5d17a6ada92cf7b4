"""The recordings list page as a workspace: one search box, views with counts (all, mine, not
assigned, by category), saved searches, up to three advanced conditions, snippets of what was
said, bulk categorisation and export of the whole result (CSV, XLSX). Served at /recordings
(this router is included before recording_pages, which keeps the detail and audio routes)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from catalog.audit import FieldChange
from catalog.notes import MAX_NOTE_CHARS, add_note
from catalog.portal_queries import CursorError
from catalog.workspace import list_categories, list_custom_fields
from portal.auth_pages import render
from portal.deps import CurrentUser, Principal, client_ip, csrf_protect, page_principal, state_of
from portal.recording_pages import parse_day, visible_recording
from services.search import FIELDS, OPS, ConditionIn, SearchError, SearchQuery, run_search
from services.search import highlight_html as highlight
from services.workspace import (
    assign_categories,
    compile_for,
    details,
    export_csv,
    export_xlsx,
    save_search,
    saved_query,
    update_custom_values,
    view_query,
    views,
    visible_saved,
)

router = APIRouter()

PAGE_PARAMS = ("q", "since", "until", "number", "category", "view", "saved", "match")
ROWS = 3  # advanced condition rows on the page


def _page_query(request: Request, principal: Principal) -> tuple[SearchQuery, dict[str, str]]:
    """The list's query from the page's parameters; also the parameters to keep in links."""
    st = state_of(request)
    p = request.query_params
    keep = {k: p[k] for k in PAGE_PARAMS if p.get(k)}
    conditions = []
    for i in range(ROWS):
        f, o, v = p.get(f"f{i}", ""), p.get(f"o{i}", ""), p.get(f"v{i}", "")
        if f and o:
            keep.update({f"f{i}": f, f"o{i}": o, f"v{i}": v})
            value: Any = v
            if o == "between" and ".." in v:
                value = v.split("..", 1)
            conditions.append(ConditionIn(field=f[:80], op=o[:32], value=value or None))
    query = SearchQuery(
        q=(p.get("q") or "")[:500] or None,
        match="any" if p.get("match") == "any" else "all",
        conditions=conditions,
        category=(p.get("category") or "")[:64] or None,
        since=parse_day(p.get("since")),
        until=parse_day(p.get("until"), end=True),
        number=(p.get("number") or "").strip()[:64] or None,
    )
    query = view_query(p.get("view"), principal.user.email if principal.user else None).merged(
        query
    )
    saved = p.get("saved")
    if saved:
        try:
            base = saved_query(st.catalog, int(saved), principal.name, admin=principal.is_admin)
        except (ValueError, LookupError):
            raise HTTPException(404, "no such saved search") from None
        query = base.merged(query)
    return query, keep


@router.get("/recordings")
def recordings(request: Request, user: CurrentUser) -> Response:
    st = state_of(request)
    principal = page_principal(st, user)
    vis = principal.visibility()
    error = None
    rows: list[Any] = []
    snippets: dict[str, Any] = {}
    next_cursor = None
    try:
        query, keep = _page_query(request, principal)
        compiled = compile_for(st.catalog, query, st.clock())
        limit = max(1, min(int(request.query_params.get("limit", "50") or 50), 200))
        res = run_search(
            st.catalog, compiled, vis, cursor=request.query_params.get("cursor"), limit=limit
        )
        rows, snippets, next_cursor = [h.recording for h in res.hits], res.snippets, res.next_cursor
    except (SearchError, ValueError) as e:
        error, keep = str(e), {k: v for k, v in request.query_params.items() if k != "cursor"}
    except CursorError:
        raise HTTPException(400, "bad page cursor") from None
    cats, custom = details(st.catalog, [r.id for r in rows])
    nums = list(user.numbers)
    return render(
        request,
        "recordings.html",
        {
            "rows": rows,
            "snippets": snippets,
            "highlight": highlight,
            "cats": cats,
            "custom": custom,
            "next_cursor": next_cursor,
            "keep": keep,
            "qs": urlencode(keep),
            "p": request.query_params,
            "error": error,
            "views": views(st.catalog, vis, me=user.email, my_numbers=nums),
            "saved": visible_saved(st.catalog, principal.name),
            "categories": list_categories(st.catalog),
            "fields": list(FIELDS),
            "ops": OPS,
            "rows_n": ROWS,
            "notice": request.query_params.get("notice"),
        },
    )


@router.get("/recordings/export")
def export(request: Request, user: CurrentUser, format: str = "csv") -> Response:
    st = state_of(request)
    principal = page_principal(st, user)
    if format not in ("csv", "xlsx"):
        raise HTTPException(400, "format must be csv or xlsx")
    try:
        query, _ = _page_query(request, principal)
        compiled = compile_for(st.catalog, query, st.clock())
    except (SearchError, ValueError) as e:
        raise HTTPException(400, str(e)) from None
    st.audit.record(
        "recordings.export",
        initiator=user.email,
        client_ip=client_ip(request),
        detail=f"{format} {query.model_dump_json(exclude_defaults=True)}"[:500],
    )
    stamp = st.clock().strftime("%Y%m%d-%H%M%S")
    if format == "csv":
        return StreamingResponse(
            export_csv(st.catalog, compiled, principal.visibility()),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="recordings-{stamp}.csv"'},
        )
    path = export_xlsx(st.catalog, compiled, principal.visibility())
    return FileResponse(
        path,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename=f"recordings-{stamp}.xlsx",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _back(keep: str, notice: str) -> RedirectResponse:
    sep = "&" if keep else ""
    return RedirectResponse(f"/recordings?{keep}{sep}{urlencode({'notice': notice})}", 303)


@router.post("/recordings/saved", dependencies=[Depends(csrf_protect)])
async def save(request: Request, user: CurrentUser) -> Response:
    st = state_of(request)
    form = await request.form()
    keep = str(form.get("keep", ""))[:4000]
    principal = page_principal(st, user)
    # the query is the page's current one, rebuilt from its parameters
    scope = dict(request.scope)
    scope["query_string"] = keep.encode()
    try:
        query, _ = _page_query(Request(scope, request.receive), principal)
        s = save_search(
            st.catalog,
            str(form.get("name", "")),
            principal.name,
            query.model_dump(mode="json", exclude_defaults=True),
            shared=form.get("shared") == "on",
        )
    except SearchError as e:
        return _back(keep, f"not saved: {e}")
    st.audit.record(
        "saved_search.create",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"saved_search:{s.id}",
        detail=s.name,
    )
    return RedirectResponse(f"/recordings?saved={s.id}&notice=saved+as+{s.name}", 303)


@router.post("/recordings/categorize", dependencies=[Depends(csrf_protect)])
async def categorize(request: Request, user: CurrentUser) -> Response:
    st = state_of(request)
    form = await request.form()
    keep = str(form.get("keep", ""))[:4000]
    principal = page_principal(st, user)
    ids = [visible_recording(st, principal, str(i)).id for i in form.getlist("ids")[:1000]]
    category = str(form.get("category", ""))
    mode = "remove" if form.get("mode") == "remove" else "add"
    if not ids or not category:
        return _back(keep, "choose calls and a category")
    try:
        changes = assign_categories(st.catalog, ids, [category], by=user.email, mode=mode)
    except SearchError as e:
        return _back(keep, str(e))
    for rid, (before, after) in changes.items():
        st.audit.record(
            "recording.categories",
            initiator=user.email,
            client_ip=client_ip(request),
            resource=f"recording:{rid}",
            changes=[FieldChange(field="categories", old=before, new=after)],
        )
    verb = "added to" if mode == "add" else "removed from"
    return _back(keep, f"{category} {verb} {len(changes)} call(s)")


# ---------------------------------------------------------------- on one call (the call page)


@router.post("/recordings/{recording_id}/notes", dependencies=[Depends(csrf_protect)])
async def add_call_note(request: Request, recording_id: str, user: CurrentUser) -> Response:
    st = state_of(request)
    rec = visible_recording(st, page_principal(st, user), recording_id)
    form = await request.form()
    offset_raw = str(form.get("offset", "")).strip()
    try:
        offset = _seconds(offset_raw) if offset_raw else None
        add_note(
            st.catalog,
            rec.id,
            user.email,
            str(form.get("text", ""))[: MAX_NOTE_CHARS + 1],
            pinned=form.get("pinned") == "on",
            offset=offset,
        )
    except ValueError as e:
        return RedirectResponse(f"/recordings/{rec.id}?{urlencode({'notice': str(e)})}", 303)
    st.audit.record(
        "recording.note",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"recording:{rec.id}",
        detail="pinned" if form.get("pinned") == "on" else "",
    )
    return RedirectResponse(f"/recordings/{rec.id}?notice=note+added#notes", 303)


def _seconds(text: str) -> float:
    """``75``, ``75.5`` or ``1:15`` → seconds."""
    try:
        if ":" in text:
            m, s = text.split(":", 1)
            value = int(m) * 60 + float(s)
        else:
            value = float(text)
    except ValueError:
        raise ValueError(f"not a time in the call: {text[:20]!r} (seconds or m:ss)") from None
    if not 0 <= value <= 86_400:
        raise ValueError("a time in the call is between 0 and 24 hours")
    return value


@router.post("/recordings/{recording_id}/labels", dependencies=[Depends(csrf_protect)])
async def set_call_labels(request: Request, recording_id: str, user: CurrentUser) -> Response:
    """The call page's form: its categories (checkboxes) and custom field values."""
    st = state_of(request)
    rec = visible_recording(st, page_principal(st, user), recording_id)
    form = await request.form()
    wanted = [str(c) for c in form.getlist("categories")][:50]
    values = {
        f.name: str(form.get(f"field.{f.name}", "")).strip() for f in list_custom_fields(st.catalog)
    }
    try:
        cat_changes = assign_categories(st.catalog, [rec.id], wanted, by=user.email)
        diff = update_custom_values(st.catalog, rec.id, values, by=user.email)
    except SearchError as e:
        return RedirectResponse(f"/recordings/{rec.id}?{urlencode({'notice': str(e)})}", 303)
    changes = [FieldChange(field="categories", old=b, new=a) for b, a in cat_changes.values()] + [
        FieldChange(field=f"custom.{k}", old=o, new=n) for k, (o, n) in diff.items()
    ]
    if changes:
        st.audit.record(
            "recording.labels",
            initiator=user.email,
            client_ip=client_ip(request),
            resource=f"recording:{rec.id}",
            changes=changes,
        )
    return RedirectResponse(f"/recordings/{rec.id}?notice={len(changes)}+change(s)+saved", 303)
