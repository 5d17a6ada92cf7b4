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

import inspect
import logging
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task

from catalog.models import Delivery, DeliveryStatus, utcnow
from catalog.sms import (
    Sms,
    SmsSettings,
    contact_names,
    first_sms_time,
    get_sms,
    get_sms_settings,
    iter_sms,
)
from connectors.base import ConnectorError, PermanentError, RetriableError
from flows.runtime import get_catalog
from flows.sms_format import (
    build_sms_email,
    csv_file_name,
    csv_key,
    month_bounds,
    write_csv,
)

if TYPE_CHECKING:
    from catalog.repository import Catalog

log = logging.getLogger("recflow.sms")

SMS_TO_EMAIL = "sms-to-email"
SMS_MONTHLY_CSV = "sms-monthly-csv"
ACTION = "sms_to_email"


# ---------------------------------------------------------------------------- sending core


def delivery_key(sms_id: str) -> str:
    return f"{ACTION}:{sms_id}"


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def load_email_connector(name: str) -> Any:
    from flows.deliveries import load_connector

    try:
        return await _maybe_await(load_connector(name))
    except LookupError as e:
        raise PermanentError(f"sms.to_email.connector: {e}") from None


def _from_address(connector: Any) -> str:
    cfg = getattr(connector, "config", None)
    return str(getattr(cfg, "from_address", "") or "recflow@localhost")


async def send_sms_email(
    catalog: Catalog,
    sms: Sms,
    settings: SmsSettings | None = None,
    *,
    connector: Any = None,
) -> Delivery | None:
    """Email one SMS unless the delivery log says it went already. None when SMS-to-email is
    off. Raises the connector's mapped errors (RetriableError is worth retrying)."""
    settings = settings or get_sms_settings(catalog)
    mail = settings.to_email
    if not mail.enabled:
        return None
    key = delivery_key(sms.id)
    previous = catalog.get_delivery(key)
    if previous is not None and previous.status is DeliveryStatus.succeeded:
        return previous
    if connector is None:
        connector = await load_email_connector(mail.connector)
    delivery = Delivery(
        subject_kind="sms",
        subject_id=sms.id,
        connector=mail.connector,
        action=ACTION,
        idempotency_key=key,
        attempt=(previous.attempt + 1) if previous else 1,
        status=DeliveryStatus.pending,
    )
    delivery = catalog.record_delivery(delivery)
    msg: EmailMessage = build_sms_email(
        sms,
        names=contact_names(catalog, [sms.from_number, sms.to_number]),
        settings=mail,
        from_address=_from_address(connector),
        account=catalog.account().name,
    )
    try:
        external_id = await _maybe_await(connector.send_message(msg))
    except ConnectorError as e:
        catalog.record_delivery(
            delivery.model_copy(update={"status": DeliveryStatus.failed, "error": str(e)[:2000]})
        )
        raise
    except Exception as e:  # an unmapped error: treat as permanent, keep it visible
        catalog.record_delivery(
            delivery.model_copy(
                update={"status": DeliveryStatus.failed, "error": f"{type(e).__name__}: {e}"}
            )
        )
        raise PermanentError(f"{type(e).__name__}: {e}") from e
    return catalog.record_delivery(
        delivery.model_copy(
            update={
                "status": DeliveryStatus.succeeded,
                "external_id": str(external_id or msg["Message-ID"])[:255],
                "error": "",
            }
        )
    )


# ---------------------------------------------------------------------------- sms-to-email


def _retry_if_retriable(_task: Any, _task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except RetriableError:
        return True
    except Exception:
        return False
    return False


@task(
    name="send_sms_email",
    retries=4,
    retry_delay_seconds=[2, 10, 30, 60],
    retry_condition_fn=_retry_if_retriable,
    persist_result=False,
)
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
    sms = get_sms(catalog, sms_id)
    assert sms is not None
    try:
        outcome = await send_sms_email_task(sms)
    except Exception as e:
        dispatch.fail(kind, sms_id, attempt, e)
        raise
    dispatch.finish(kind, sms_id, attempt)
    get_run_logger().info("sms %s: email %s", sms_id, outcome)
    return {"sms_id": sms_id, "email": outcome}


# ---------------------------------------------------------------------------- monthly CSV


def export_dir(catalog: Catalog) -> Path:
    """Where the scheduled export writes; archive destinations pick files up from here."""
    return catalog.settings.resolved_data_dir / "exports"


def export_month(
    catalog: Catalog, year: int, month: int, out_dir: Path | None = None, *, flat: bool = False
) -> tuple[Path, int]:
    """Write one month's CSV (header only when the month had no SMS); returns (path, rows).

    The file appears atomically (temp name, fsync, rename), so an archive run never copies a
    half-written month. ``flat`` puts it directly in ``out_dir`` instead of CSV/Monthly/YYYY/MM."""
    settings = get_sms_settings(catalog)
    name = csv_file_name(settings.monthly_csv, catalog.account().name, year, month)
    root = out_dir if out_dir is not None else export_dir(catalog)
    path = root / name if flat else root / csv_key(name, year, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    start, end = month_bounds(year, month)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        rows = write_csv(iter_sms(catalog, since=start, until=end), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path, rows


def months_to_export(
    catalog: Catalog, now: datetime | None = None, out_dir: Path | None = None
) -> list[tuple[int, int]]:
    """This month and last month (still changing / just closed), plus every earlier month since
    the first SMS whose file is missing — one file per month, even an empty one."""
    now = (now or utcnow()).astimezone(UTC)
    first = first_sms_time(catalog) or now
    cur = (now.year, now.month)
    prev = (now.year - (now.month == 1), (now.month - 2) % 12 + 1)
    settings = get_sms_settings(catalog)
    root = out_dir if out_dir is not None else export_dir(catalog)
    account = catalog.account().name
    out: list[tuple[int, int]] = []
    y, m = first.year, first.month
    while (y, m) <= cur:
        name = csv_file_name(settings.monthly_csv, account, y, m)
        if (y, m) in (cur, prev) or not (root / csv_key(name, y, m)).exists():
            out.append((y, m))
        y, m = (y + (m == 12), m % 12 + 1)
    if prev not in out and prev >= (first.year, first.month):
        out.insert(0, prev)
    return out


@flow(name=SMS_MONTHLY_CSV, persist_result=False)
async def sms_monthly_csv(month: str | None = None) -> dict[str, int]:
    """Write the monthly SMS CSV files (``month`` = ``YYYY-MM`` for just one)."""
    from flows.sms_format import parse_month

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
