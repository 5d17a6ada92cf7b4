"""Quality pages: the forced-comment form on a call, the dashboard (server-rendered SVG charts)
and the call report (table, CSV, XLSX). Rules live in services/; these routes only call them."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from catalog.notes import MAX_NOTE_CHARS, add_note
from portal.admin_pages import audit_filter
from portal.auth_pages import render
from portal.deps import AdminUser, CurrentUser, client_ip, csrf_protect, page_principal, state_of
from portal.recording_pages import visible_recording
from services.charts import bar_chart
from services.reports import (
    FORMATS,
    GROUP_BY,
    ReportError,
    call_report,
    dashboard,
    dashboard_period,
    parse_period,
    rows_csv,
    rows_xlsx,
)
from services.reviews import ReviewError, agent_averages, submit_review
from services.tamper import verify_one

router = APIRouter(dependencies=[Depends(csrf_protect)])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AUDIT_CSV_MAX = 100_000
AUDIT_COLUMNS = [
    "seq",
    "at",
    "initiator",
    "client_ip",
    "action",
    "resource",
    "outcome",
    "detail",
    "changes",
]


@router.post("/recordings/{recording_id}/comment")
async def add_comment(request: Request, recording_id: str, user: CurrentUser) -> Response:
    """A comment from the call page: a note by this user (what forced comments ask for)."""
    st = state_of(request)
    rec = visible_recording(st, page_principal(st, user), recording_id)
    form = await request.form()
    text = str(form.get("text", "")).strip()
    if not text or len(text) > MAX_NOTE_CHARS:
        raise HTTPException(400, f"a comment needs 1 to {MAX_NOTE_CHARS} characters")
    note = add_note(st.catalog, rec.id, user.email, text, now=st.clock())
    st.audit.record(
        "recording.note",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"recording:{rec.id}",
        at=note.created_at,
    )
    return RedirectResponse(f"/recordings/{rec.id}", 303)


@router.post("/recordings/{recording_id}/review")
async def add_review_page(request: Request, recording_id: str, user: CurrentUser) -> Response:
    """A completed review from the call page's form (fields arrive as ``f:<name>``)."""
    st = state_of(request)
    rec = visible_recording(st, page_principal(st, user), recording_id)
    form = await request.form()
    answers = {k[2:]: v for k, v in form.items() if k.startswith("f:") and isinstance(v, str)}
    try:
        review = submit_review(
            st.catalog,
            rec,
            str(form.get("template", "")),
            answers,
            user.email,
            st.users.list(),
            st.clock(),
        )
    except ReviewError as e:
        raise HTTPException(400, str(e)) from None
    st.audit.record(
        "recording.review",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"recording:{rec.id}",
        detail=f"template={review.template} score={review.score}",
        at=review.created_at,
    )
    return RedirectResponse(f"/recordings/{rec.id}#reviews", 303)


@router.post("/recordings/{recording_id}/verify")
async def verify_page(request: Request, recording_id: str, user: CurrentUser) -> Response:
    """The Verify button: the recording against its signed manifest; audited with the result."""
    st = state_of(request)
    rec = visible_recording(st, page_principal(st, user), recording_id)
    verdict = verify_one(st.catalog, rec.id)
    st.audit.record(
        "verify",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"recording:{rec.id}",
        outcome="ok" if verdict.ok else "failed",
        detail=verdict.line(),
    )
    return RedirectResponse(f"/recordings/{rec.id}?verify={verdict.status}#integrity", 303)


@router.get("/audit/export.csv")
def audit_csv(
    request: Request,
    user: AdminUser,
    since: str | None = None,
    until: str | None = None,
    initiator: str | None = None,
    action: str | None = None,
    resource: str | None = None,
) -> Response:
    """The audit page's filter as CSV (newest first, at most ``AUDIT_CSV_MAX`` rows)."""
    st = state_of(request)
    flt = audit_filter(since, until, initiator, action, resource)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "seq",
            "at",
            "initiator",
            "client_ip",
            "action",
            "resource",
            "outcome",
            "detail",
            "changes",
        ]
    )
    before, n = None, 0
    while n < AUDIT_CSV_MAX:
        page = st.audit.list(flt, before_seq=before, limit=1000)
        for e in page:
            changes = "; ".join(f"{c.field}: {c.old!r} -> {c.new!r}" for c in e.changes)
            w.writerow(
                [
                    e.seq,
                    e.at.isoformat(),
                    e.initiator,
                    e.client_ip,
                    e.action,
                    e.resource,
                    e.outcome,
                    e.detail,
                    changes,
                ]
            )
        n += len(page)
        if len(page) < 1000:
            break
        before = page[-1].seq
    st.audit.record(
        "audit_export",
        initiator=user.email,
        client_ip=client_ip(request),
        resource="audit",
        detail=f"{n} entries",
    )
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def _period(request: Request):  # type: ignore[no-untyped-def]
    q = request.query_params
    try:
        return parse_period(q.get("since"), q.get("until"))
    except ReportError as e:
        raise HTTPException(400, str(e)) from None


@router.get("/dashboard")
def dashboard_page(request: Request, user: CurrentUser) -> Response:
    st = state_of(request)
    q = request.query_params
    try:
        period = dashboard_period(q.get("since"), q.get("until"), st.clock())
    except ReportError as e:
        raise HTTPException(400, str(e)) from None
    vis = page_principal(st, user).visibility()
    d = dashboard(st.catalog, vis, period, st.catalog.settings.resolved_data_dir)
    charts = [
        bar_chart("Calls per day", [(x["day"], x["calls"]) for x in d["calls_per_day"]]),
        bar_chart(
            "Average duration per day",
            [(x["day"], x["average_seconds"]) for x in d["calls_per_day"]],
            unit=" s",
        ),
        bar_chart("Calls by direction", sorted(d["calls_by_direction"].items())),
        bar_chart(
            "Top keyword rules (calls)", [(x["rule"], x["calls"]) for x in d["top_rule_matches"]]
        ),
        bar_chart(
            "Delivery failures", [(x["connector"], x["failed"]) for x in d["delivery_failures"]]
        ),
        bar_chart(
            "Average evaluation score per agent",
            [(a, s) for a, s in agent_averages(st.catalog, vis, st.users.list(), period)],
            unit="/100",
        ),
    ]
    return render(
        request,
        "dashboard.html",
        {
            "d": d,
            "charts": [Markup(c) for c in charts],
            "since": request.query_params.get("since", ""),
            "until": request.query_params.get("until", ""),
        },
    )


@router.get("/reports")
def reports_page(
    request: Request, user: CurrentUser, group_by: str = "day", format: str = "html"
) -> Response:
    st = state_of(request)
    period = _period(request)
    vis = page_principal(st, user).visibility()
    if format not in (*FORMATS, "html"):
        raise HTTPException(400, "format must be html, csv or xlsx")
    try:
        rows = call_report(st.catalog, vis, st.users.list(), group_by, period)
    except ReportError as e:
        raise HTTPException(400, str(e)) from None
    if format in ("csv", "xlsx"):
        st.audit.record(
            "report",
            initiator=user.email,
            client_ip=client_ip(request),
            resource="report:calls",
            detail=f"group_by={group_by} format={format}",
        )
        name = f"calls-{group_by}.{format}"
        body, media = (
            (rows_csv(rows), "text/csv; charset=utf-8")
            if format == "csv"
            else (rows_xlsx(rows, f"calls-{group_by}"), XLSX)
        )
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return render(
        request,
        "reports.html",
        {
            "rows": rows,
            "group_by": group_by,
            "choices": GROUP_BY,
            "since": request.query_params.get("since", ""),
            "until": request.query_params.get("until", ""),
        },
    )
