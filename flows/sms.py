"""SMS flows: `sms-to-email` (one run per SMS) and `sms-monthly-csv` (scheduled), plus the sweep
that hands pending SMS to Prefect.

Exactly one email per SMS, and where each part of that comes from:
- *Nothing lost*: ingest stores a complete ``pending`` row first; the sweep keeps offering
  pending rows to Prefect until Prefect accepts them.
- *One run*: the flow run's idempotency key is ``<sms id>:<attempt>``, so a second announcement
  returns the same run; the run claims the SMS with a compare-and-set in the catalog.
- *One email*: the delivery log (``deliveries`` table, key ``sms_to_email:<sms id>``) is checked
  before sending and marked ``succeeded`` right after the SMTP server accepted the message; a
  retry or a re-run finds it and sends nothing. The one window left — the server accepted, the
  process died before the log write — resends the *same* message with the same deterministic
  ``Message-ID``, which mail archives de-duplicate on.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task

from catalog.models import utcnow
from catalog.sms import (
    Sms,
    SmsStatus,
    claim_sms,
    complete_sms,
    fail_sms,
    get_sms,
    get_sms_settings,
    mark_sms_dispatched,
    pending_sms,
    requeue_sms,
    stale_sms,
)
from services.runtime import get_catalog
from services.sms import (
    export_dir,
    export_month,
    months_to_export,
    send_sms_email,
)

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

    from catalog.repository import Catalog

log = logging.getLogger("recflow.sms")

SMS_TO_EMAIL = "sms-to-email"
SMS_MONTHLY_CSV = "sms-monthly-csv"
DISPATCHED_GRACE = timedelta(minutes=2)  # a dispatched run not started by then is looked at
PROCESSING_LEASE = timedelta(minutes=10)  # longer than any send with all its retries


class StaleSmsRun(Exception):
    """This run lost its claim: another run holds the SMS or already finished it."""


# ---------------------------------------------------------------------------- sms-to-email


@task(name="claim_sms", persist_result=False)
async def claim_sms_task(sms_id: str, attempt: int, flow_run_id: str) -> Sms:
    catalog = get_catalog()
    if not claim_sms(catalog, sms_id, attempt, flow_run_id):
        sms = get_sms(catalog, sms_id)
        state = f"{sms.status.value} attempt {sms.attempt}" if sms else "missing"
        raise StaleSmsRun(f"sms {sms_id} attempt {attempt} not claimable ({state})")
    sms = get_sms(catalog, sms_id)
    assert sms is not None
    return sms


@task(name="send_sms_email", persist_result=False)  # retried inside, by the one retry policy
async def send_sms_email_task(sms: Sms) -> str:
    delivery = await send_sms_email(get_catalog(), sms)
    return delivery.status.value if delivery else "off"


@flow(name=SMS_TO_EMAIL, persist_result=False)
async def sms_to_email(sms_id: str, attempt: int = 0) -> dict[str, Any]:
    """Email one stored SMS (when SMS-to-email is on) and mark it processed."""
    from prefect.context import get_run_context

    run_ctx = get_run_context()
    flow_run_id = str(run_ctx.flow_run.id) if run_ctx.flow_run else ""  # type: ignore[union-attr]
    catalog = get_catalog()
    sms = await claim_sms_task(sms_id, attempt, flow_run_id)
    try:
        outcome = await send_sms_email_task(sms)
    except Exception as e:
        fail_sms(catalog, sms.id, sms.attempt, f"{type(e).__name__}: {e}")
        raise
    if not complete_sms(catalog, sms.id, sms.attempt):
        raise StaleSmsRun(f"sms {sms.id}: claim lost before completion")
    get_run_logger().info("sms %s: email %s", sms.id, outcome)
    return {"sms_id": sms.id, "email": outcome}


# ---------------------------------------------------------------------------- the sweep


class _DeploymentId:
    def __init__(self) -> None:
        self.value: Any = None

    async def get(self, client: PrefectClient) -> Any:
        if self.value is None:
            from flows.registry import deployment_full_name

            dep = await client.read_deployment_by_name(deployment_full_name(SMS_TO_EMAIL))
            self.value = dep.id
        return self.value


_deployment = _DeploymentId()


async def announce_sms(client: PrefectClient, catalog: Catalog, sms: Sms) -> str | None:
    dep_id = await _deployment.get(client)
    run = await client.create_flow_run_from_deployment(
        dep_id,
        parameters={"sms_id": sms.id, "attempt": sms.attempt},
        idempotency_key=f"{SMS_TO_EMAIL}:{sms.id}:{sms.attempt}",
        name=f"sms {sms.from_number} → {sms.to_number} [{sms.id[:8]}]",
        tags=["sms"],
    )
    mark_sms_dispatched(catalog, sms.id, sms.attempt, str(run.id))
    return str(run.id)


async def dispatch_pending_sms(catalog: Catalog, client: PrefectClient) -> int:
    """One sweep (flows.registry.SWEEPS): every pending SMS becomes one flow run; runs that
    were lost (never started, or their worker died mid-run) are handed out again."""
    n = 0
    for sms in pending_sms(catalog, limit=200):
        if await announce_sms(client, catalog, sms):
            n += 1
    await reclaim_lost_sms(catalog, client)
    return n


async def reclaim_lost_sms(catalog: Catalog, client: PrefectClient) -> int:
    from prefect.states import Crashed

    now = utcnow()
    n = 0
    candidates = stale_sms(catalog, SmsStatus.dispatched, now - DISPATCHED_GRACE) + stale_sms(
        catalog, SmsStatus.processing, now - PROCESSING_LEASE
    )
    for sms in candidates:
        state = None
        if sms.flow_run_id:
            try:
                state = (await client.read_flow_run(sms.flow_run_id)).state
            except Exception:
                state = None
        queued_or_running = state is not None and (state.is_scheduled() or state.is_running())
        if sms.status is SmsStatus.dispatched and queued_or_running:
            continue  # queued behind other work, or running
        if state is not None and not state.is_final() and sms.flow_run_id:
            try:
                await client.set_flow_run_state(
                    sms.flow_run_id, Crashed(message="sms handed out again"), force=True
                )
            except Exception as e:
                log.warning("could not crash flow run %s: %s", sms.flow_run_id, e)
        if requeue_sms(catalog, sms.id, from_statuses={sms.status}) is not None:
            log.warning("sms %s: run lost, handed out again", sms.id)
            n += 1
    return n


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
