"""Legal holds and the retention report (Focus "Retention"): the account-wide hold's state, the
active per-recording holds, placing holds on listed recordings or on every call a search finds
(bulk), releasing with a reason; the retention report as a page and as CSV. Administrators
change holds; supervisors see them. Every change is audited."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from catalog.portal_queries import RecordingQuery
from portal.auth_pages import render
from portal.deps import AdminUser, Principal, StaffUser, client_ip, csrf_protect, state_of
from portal.recording_pages import parse_day
from services import legal_holds
from services.archive import run_retention
from services.run_cleanup import orchestrator_url, run_forgetter

router = APIRouter(dependencies=[Depends(csrf_protect)])


def _page(request: Request, *, notice: str = "", error: str = "", status: int = 200) -> Response:
    st = state_of(request)
    return render(
        request,
        "legal_holds.html",
        {
            "account": st.catalog.account(),
            "holds": legal_holds.holds(st.catalog),
            "can_edit": request.state.user.is_admin,
            "notice": notice or None,
            "error": error or None,
        },
        status,
    )


def _audit_placed(request: Request, by: str, recording_id: str, reason: str) -> None:
    state_of(request).audit.record(
        "legal_hold.place",
        initiator=by,
        client_ip=client_ip(request),
        resource=f"recording:{recording_id}",
        detail=" ".join(reason.split())[:1000],
    )


@router.get("/legal-holds")
def holds_page(request: Request, user: StaffUser) -> Response:
    return _page(request)


@router.post("/legal-holds")
async def place(request: Request, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    reason = str(form.get("reason", ""))
    vis = Principal(name=user.email, user=user).visibility()
    ids = str(form.get("recording_ids", "")).replace(",", " ").split()
    number = str(form.get("number", "")).strip()
    since, until = str(form.get("since", "")).strip(), str(form.get("until", "")).strip()
    try:
        if not ids and (number or since or until):
            query = RecordingQuery(
                since=parse_day(since or None),
                until=parse_day(until or None, end=True),
                number=number or None,
            )
            ids = legal_holds.search_ids(st.catalog, query, vis)
            if not ids:
                return _page(request, error="The search found no recordings.", status=400)
        result = legal_holds.place_holds(
            st.catalog, ids, reason=reason, by=user.email, visibility=vis
        )
    except legal_holds.HoldError as e:
        return _page(request, error=f"{e}.", status=400)
    for rid in result.placed:
        _audit_placed(request, user.email, rid, reason)
    parts = [f"{len(result.placed)} recording(s) put on hold"]
    if result.already:
        parts.append(f"{len(result.already)} already held")
    if result.unknown:
        parts.append(f"{len(result.unknown)} not found")
    return _page(request, notice=", ".join(parts) + ".", status=200 if result.placed else 400)


@router.post("/recordings/{recording_id}/hold")
async def place_one(request: Request, recording_id: str, user: AdminUser) -> Response:
    """Put the recording shown on its page on hold, with a reason; back to that page."""
    st = state_of(request)
    reason = str((await request.form()).get("reason", ""))
    vis = Principal(name=user.email, user=user).visibility()
    try:
        result = legal_holds.place_holds(
            st.catalog, [recording_id], reason=reason, by=user.email, visibility=vis
        )
    except legal_holds.HoldError as e:
        return _page(request, error=f"{e}.", status=400)
    if result.unknown:
        return _page(request, error="No such recording.", status=404)
    if result.placed:
        _audit_placed(request, user.email, recording_id, reason)
    notice = "Put on legal hold." if result.placed else "Already on legal hold."
    return RedirectResponse(
        f"/recordings/{recording_id}?{urlencode({'notice': notice})}", status_code=303
    )


@router.post("/legal-holds/{recording_id}/release")
async def release(request: Request, recording_id: str, user: AdminUser) -> Response:
    st = state_of(request)
    form = await request.form()
    reason = str(form.get("reason", ""))
    try:
        n = legal_holds.release(st.catalog, recording_id, reason=reason, by=user.email)
    except legal_holds.HoldError as e:
        return _page(request, error=f"{e}.", status=400)
    if not n:
        return _page(request, error="That recording has no active hold.", status=404)
    st.audit.record(
        "legal_hold.release",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"recording:{recording_id}",
        detail=" ".join(reason.split())[:1000],
    )
    return _page(request, notice="Hold released.")


@router.get("/retention")
def retention_page(request: Request, user: StaffUser) -> Response:
    return _retention_page(request)


@router.post("/retention/run")
def retention_run(request: Request, user: AdminUser) -> Response:
    """Run retention now, as the nightly flow does: every expired recording nothing holds is
    deleted (each deletion audited), then its flow runs are removed from Prefect."""
    st = state_of(request)
    data_dir = st.catalog.settings.resolved_data_dir
    rep = run_retention(
        st.catalog,
        now=st.clock(),
        actor=user.email,
        forget_runs=run_forgetter(orchestrator_url(data_dir)),
    )
    summary = rep.summary()
    st.audit.record(
        "retention.run", initiator=user.email, client_ip=client_ip(request), detail=summary
    )
    return _retention_page(request, notice=summary, error="; ".join(rep.errors.values())[:500])


def _retention_page(request: Request, *, notice: str = "", error: str = "") -> Response:
    st = state_of(request)
    rows = legal_holds.retention_rows(st.catalog, now=st.clock())
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.action] = counts.get(r.action, 0) + 1
    return render(
        request,
        "retention_report.html",
        {
            "rows": rows[:1000],
            "total": len(rows),
            "counts": counts,
            "account": st.catalog.account(),
            "can_run": request.state.user.is_admin,
            "notice": notice or None,
            "error": error or None,
        },
    )


@router.get("/retention.csv")
def retention_csv(request: Request, user: StaffUser) -> Response:
    st = state_of(request)
    body = legal_holds.retention_csv(legal_holds.retention_rows(st.catalog, now=st.clock()))
    st.audit.record("retention.report_export", initiator=user.email, client_ip=client_ip(request))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="retention-report.csv"'},
    )
