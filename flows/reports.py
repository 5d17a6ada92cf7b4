"""Scheduled call reports: one Prefect deployment schedule per report in the `reports:` section
(like the archive: cron per item); each run renders the report and e-mails or stores it."""

from __future__ import annotations

from typing import Any

from prefect import flow

from catalog.audit import Audit
from catalog.models import utcnow
from catalog.report_schedules import load_schedules
from catalog.repository import Catalog
from services.scheduled_reports import ScheduledReportError, deliver, render


def report_schedules(catalog: Catalog) -> list[Any]:
    from prefect.schedules import Cron

    return [
        Cron(r.schedule, timezone=r.timezone, parameters={"name": r.name}, slug=f"report-{r.name}")
        for r in load_schedules(catalog)
        if r.enabled
    ]


async def send_report(catalog: Catalog, name: str) -> dict[str, Any]:
    from connectors import configured

    sched = next((r for r in load_schedules(catalog) if r.name == name), None)
    if sched is None:
        raise ScheduledReportError(f"no scheduled report named {name!r}")
    report = render(catalog, sched, utcnow())
    connector = configured.load(catalog, sched.connector)
    try:
        where = await deliver(connector, sched, report)
    finally:
        close = getattr(connector, "aclose", None)
        if close is not None:
            await close()
    Audit(catalog).record(
        "report_sent",
        initiator="system",
        resource=f"report:{sched.name}",
        detail=f"{report.name} -> {sched.connector} ({where})",
    )
    return {"report": sched.name, "file": report.name, "period": report.label, "to": where}


@flow(name="scheduled-report", log_prints=False, retries=1, retry_delay_seconds=60)
async def report_flow(name: str) -> dict[str, Any]:
    """Render one scheduled call report and send or store it."""
    return await send_report(Catalog.open(), name)
