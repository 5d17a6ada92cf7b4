"""/api/v1/reports/calls and /api/v1/dashboard: the call report (JSON, CSV, XLSX) and the
dashboard's figures, both scoped to what the caller may see."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from portal.deps import ApiCaller, StateDep
from services.reports import (
    FORMATS,
    GROUP_BY,
    ReportError,
    call_report,
    dashboard,
    dashboard_period,
    parse_period,
    rows_csv,
    rows_json,
    rows_xlsx,
)

router = APIRouter(tags=["reports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/reports/calls",
    responses={
        200: {
            "content": {"application/json": {}, "text/csv": {}, XLSX: {}},
            "description": '{"rows": [{"key", "calls", "total_seconds", "average_seconds", '
            '"inbound", "outbound"}]}, or the same columns as CSV or XLSX',
        }
    },
)
def calls_report(
    request: Request,
    caller: ApiCaller,
    st: StateDep,
    group_by: Annotated[str, Query(description=" | ".join(GROUP_BY))] = "all",
    since: Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD or ISO 8601")] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="YYYY-MM-DD (inclusive) or ISO 8601")
    ] = None,
    format: Annotated[str, Query(description=" | ".join(FORMATS))] = "json",
) -> Any:
    """Call counts, total and average duration, inbound and outbound, per group."""
    if format not in FORMATS:
        raise HTTPException(400, f"format must be one of {', '.join(FORMATS)}")
    try:
        period = parse_period(since, until)
        rows = call_report(st.catalog, caller.visibility(), st.users.list(), group_by, period)
    except ReportError as e:
        raise HTTPException(400, str(e)) from None
    st.audit.record(
        "report",
        initiator=caller.name,
        client_ip=request.client.host if request.client else "",
        resource="report:calls",
        detail=f"group_by={group_by} format={format}",
    )
    name = f"calls-{group_by}"
    if format == "csv":
        return Response(
            rows_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "xlsx":
        return Response(
            rows_xlsx(rows, name),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return rows_json(rows)


@router.get("/dashboard")
def get_dashboard(
    caller: ApiCaller,
    st: StateDep,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Calls per day, average duration, active calls now, calls by direction, top keyword-rule
    matches, delivery failures and evaluations for the period (default: the last 30 days)."""
    try:
        period = dashboard_period(since, until, st.clock())
    except ReportError as e:
        raise HTTPException(400, str(e)) from None
    return dashboard(st.catalog, caller.visibility(), period, st.catalog.settings.resolved_data_dir)
