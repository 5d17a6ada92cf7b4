"""Scheduled call reports (Masergy): render the account-wide call report for the previous day,
week or month and send it as an e-mail attachment or put it into a storage connector (the
archive's S3/Azure/FTP/SFTP connectors) under ``reports/<name>/<period start>.<ext>``.

Scheduled reports are account-wide (every call, private ones included): they are configured by
administrators in the ``reports:`` section and go to addresses and stores the account owns.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from catalog.portal_queries import Visibility
from catalog.quality import Period
from catalog.report_schedules import ReportSchedule
from catalog.repository import Catalog
from catalog.users import Users
from services.reports import call_report, rows_csv, rows_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EVERYTHING = Visibility(everything=True, private_all=True)


class ScheduledReportError(Exception):
    pass


@dataclass(frozen=True)
class ReportFile:
    name: str
    data: bytes
    content_type: str
    period: Period
    label: str  # e.g. 2026-03-01 or 2026-02-23..2026-03-01


def period_for(kind: str, now: datetime, tz: str = "UTC") -> tuple[Period, str]:
    """The last complete day / week (Monday–Sunday) / month before ``now`` in ``tz``."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    if kind == "previous_day":
        start = today - timedelta(days=1)
        end = today
    elif kind == "previous_week":
        end = today - timedelta(days=today.weekday())
        start = end - timedelta(days=7)
    elif kind == "previous_month":
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
    else:
        raise ScheduledReportError(f"unknown period {kind!r}")

    def at(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)

    last = end - timedelta(days=1)
    label = start.isoformat() if start == last else f"{start.isoformat()}..{last.isoformat()}"
    return Period(at(start), at(end)), label


def render(catalog: Catalog, sched: ReportSchedule, now: datetime) -> ReportFile:
    period, label = period_for(sched.period, now, sched.timezone)
    rows = call_report(catalog, EVERYTHING, Users(catalog).list(), sched.group_by, period)
    stem = f"{sched.name}-{label.replace('..', '_')}"
    if sched.format == "xlsx":
        return ReportFile(f"{stem}.xlsx", rows_xlsx(rows, sched.name), XLSX, period, label)
    return ReportFile(f"{stem}.csv", rows_csv(rows).encode(), "text/csv", period, label)


async def deliver(connector: Any, sched: ReportSchedule, report: ReportFile) -> str:
    """Send or store ``report``; returns where it went (a Message-ID or an object key)."""
    if hasattr(connector, "send_message"):
        msg = EmailMessage()
        recipients = sched.to or list(getattr(connector.config, "to_addresses", []))
        if not recipients:
            raise ScheduledReportError(f"report {sched.name}: no recipients (to:)")
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = f"Call report {sched.name}: {report.label}"
        msg.set_content(
            f"The call report {sched.name} ({sched.group_by}) for {report.label} is attached."
        )
        maintype, subtype = report.content_type.split("/", 1)
        msg.add_attachment(report.data, maintype=maintype, subtype=subtype, filename=report.name)
        return str(await connector.send_message(msg))
    if hasattr(connector, "put_object"):
        key = f"reports/{sched.name}/{report.name}"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / report.name
            path.write_bytes(report.data)
            await connector.put_object(key, path, content_type=report.content_type)
        return key
    raise ScheduledReportError(
        f"report {sched.name}: connector {sched.connector!r} neither sends e-mail nor stores files"
    )
