"""SMS work that needs no Prefect: emailing one SMS (the Focus "SMS to Email" layout, once per
SMS whatever retries happen) and writing the monthly CSV files. The Prefect flows that schedule
and retry them are ``flows.sms``."""

from __future__ import annotations

import inspect
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.models import Delivery, DeliveryStatus, utcnow
from catalog.sms import (
    Sms,
    SmsSettings,
    contact_names,
    first_sms_time,
    get_sms_settings,
    iter_sms,
)
from connectors.base import ConnectorError, PermanentError
from services.retry import RetryPolicy, call_with_retries
from services.sms_format import build_sms_email, csv_file_name, csv_key, month_bounds, write_csv

if TYPE_CHECKING:
    from catalog.repository import Catalog

ACTION = "sms_to_email"


# ---------------------------------------------------------------------------- sending core


def delivery_key(sms_id: str) -> str:
    return f"{ACTION}:{sms_id}"


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def load_email_connector(name: str) -> Any:
    from services.runtime import load_connector

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
    policy: RetryPolicy | None = None,
) -> Delivery | None:
    """Email one SMS unless the delivery log says it went already. None when SMS-to-email is
    off. Retries by the one retry policy, each attempt in the delivery log; raises the
    connector's mapped error when the policy gives up."""
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
    first_attempt = delivery.attempt

    def attempt_starts(n: int) -> None:
        nonlocal delivery
        delivery = catalog.record_delivery(
            delivery.model_copy(update={"attempt": first_attempt + n - 1})
        )

    def attempt_failed(_n: int, err: ConnectorError) -> None:
        nonlocal delivery
        delivery = catalog.record_delivery(delivery.model_copy(update={"error": str(err)[:2000]}))

    try:
        external_id = await call_with_retries(
            policy or RetryPolicy.from_env(),
            lambda: _maybe_await(connector.send_message(msg)),
            on_attempt=attempt_starts,
            on_failure=attempt_failed,
        )
    except ConnectorError as e:
        catalog.record_delivery(
            delivery.model_copy(update={"status": DeliveryStatus.failed, "error": str(e)[:2000]})
        )
        raise
    return catalog.record_delivery(
        delivery.model_copy(
            update={
                "status": DeliveryStatus.succeeded,
                "external_id": str(external_id or msg["Message-ID"])[:255],
                "error": "",
            }
        )
    )


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
