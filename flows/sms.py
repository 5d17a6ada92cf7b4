"""SMS flows: `sms-to-email` (one run per SMS, named ``sms-<id>``) and `sms-monthly-csv`
(scheduled).

Exactly one email per SMS, and where each part of that comes from:
- *Nothing lost*: ingest stores a complete ``pending`` row first; workers keep claiming pending
  rows from the catalog (catalog.work_items), so a Prefect outage only delays them.
- *One run*: the worker claims the SMS (compare-and-set) before the run exists, then runs
  ``sms-to-email`` in-process; the same claim/lease rules as recordings (flows/dispatch.py).
- *One email*: the delivery log (``deliveries`` table, key ``sms_to_email:<sms id>``) is checked
  before sending and marked ``succeeded`` right after the SMTP server accepted the message; a
  retry or a re-run finds it and sends nothing. The one window left — the server accepted, the
  process died before the log write — resends the *same* message with the same deterministic
  ``Message-ID``, which mail archives de-duplicate on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task

from catalog.sms import (
    Sms,
    get_sms,
    get_sms_settings,
)
from services.runtime import get_catalog
from services.sms import (
    export_dir,
    export_month,
    months_to_export,
    send_sms_email,
)

if TYPE_CHECKING:
    from catalog.repository import Catalog

log = logging.getLogger("recflow.sms")

SMS_TO_EMAIL = "sms-to-email"
SMS_MONTHLY_CSV = "sms-monthly-csv"


# ---------------------------------------------------------------------------- sms-to-email


@task(name="send_sms_email", persist_result=False)  # retried inside, by the one retry policy
async def send_sms_email_task(sms: Sms) -> str:
    delivery = await send_sms_email(get_catalog(), sms)
    return delivery.status.value if delivery else "off"


@flow(name=SMS_TO_EMAIL, flow_run_name="sms-{sms_id}", persist_result=False)
async def sms_to_email(sms_id: str, attempt: int | None = None) -> dict[str, Any]:
    """Email one stored SMS (when SMS-to-email is on) and mark it processed. The worker calls
    it after claiming the SMS in the catalog (flows/dispatch.py)."""
    from flows import dispatch
    from flows.registry import work_kind

    kind = work_kind(SMS_TO_EMAIL)
    catalog = get_catalog()
    attempt = dispatch.begin(kind, sms_id, attempt)
    try:
        sms = get_sms(catalog, sms_id)
        assert sms is not None
        outcome = await send_sms_email_task(sms)
    except Exception as e:
        dispatch.fail(kind, sms_id, attempt, e)  # a transient one hands it back (HandedBack)
        raise
    dispatch.finish(kind, sms_id, attempt)
    get_run_logger().info("sms %s: email %s", sms_id, outcome)
    return {"sms_id": sms_id, "email": outcome}


# ---------------------------------------------------------------------------- monthly CSV


@flow(name=SMS_MONTHLY_CSV, persist_result=False)
async def sms_monthly_csv(month: str | None = None) -> dict[str, int]:
    """Write the monthly SMS CSV files (``month`` = ``YYYY-MM`` for just one)."""
    from services.sms_format import parse_month

    catalog = get_catalog()
    months = [parse_month(month)] if month else months_to_export(catalog)
    written: dict[str, int] = {}
    for y, m in months:
        path, rows = export_month(catalog, y, m)
        written[str(path.relative_to(export_dir(catalog)))] = rows
    get_run_logger().info("sms csv: %d file(s)", len(written))
    return written


def monthly_csv_schedules(catalog: Catalog) -> list[dict[str, Any]]:
    from prefect.client.schemas.schedules import CronSchedule

    settings = get_sms_settings(catalog).monthly_csv
    if not settings.enabled or not settings.schedule:
        return []
    return [{"schedule": CronSchedule(cron=settings.schedule, timezone="UTC"), "active": True}]
