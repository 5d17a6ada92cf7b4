"""Monthly SMS CSVs delivered to archive destinations that ask for them (``sms_csv: true``).

Focus puts them under ``CSV/Monthly/YYYY/MM/<account>_SMSMessages_YYYY_MM.csv``; every archive
destination with ``sms_csv`` gets that key whatever its recordings' layout. One file per month
from the first SMS to this month (a month without SMS gets a header-only file). A month is
uploaded again only when its content changed (its SHA-256 differs from the one last delivered
to that destination), so a nightly run re-sends this month's growing file and leaves closed
months alone. The CSV is written to a temporary file, never held whole in memory.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog.models import utcnow
from catalog.repository import Catalog
from catalog.sms import first_sms_time, get_sms_settings, iter_sms
from services.sms_format import csv_file_name, csv_key, month_bounds, write_csv

LEDGER_DOC = "sms_csv_archived:{}"


@dataclass
class SmsCsvReport:
    uploaded: list[str] = field(default_factory=list)
    unchanged: int = 0
    bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # "sms-csv:YYYY-MM" -> error


def months(catalog: Catalog, now: datetime | None = None) -> list[tuple[int, int]]:
    now = (now or utcnow()).astimezone(UTC)
    first = min(first_sms_time(catalog) or now, now)
    out, y, m = [], first.year, first.month
    while (y, m) <= (now.year, now.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def write_month(catalog: Catalog, year: int, month: int, dest: Path) -> str:
    """Write the month's CSV to ``dest``; returns its SHA-256."""
    start, end = month_bounds(year, month)
    with open(dest, "w", encoding="utf-8", newline="") as f:
        write_csv(iter_sms(catalog, since=start, until=end), f)
    h = hashlib.sha256()
    with open(dest, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def month_key(catalog: Catalog, year: int, month: int) -> str:
    name = csv_file_name(get_sms_settings(catalog).monthly_csv, catalog.account().name, year, month)
    return csv_key(name, year, month)


async def deliver_sms_csvs(
    catalog: Catalog, archive: str, store: Any, *, now: datetime | None = None
) -> SmsCsvReport:
    """Put every changed monthly CSV into ``store`` (an archive connector with ``put_object``)."""
    report = SmsCsvReport()
    doc_key = LEDGER_DOC.format(archive)
    sent: dict[str, str] = dict(catalog.get_document(doc_key) or {})
    with tempfile.TemporaryDirectory(prefix=f"recflow-sms-csv-{archive}-") as tmp:
        for year, month in months(catalog, now):
            key = month_key(catalog, year, month)
            path = Path(tmp) / f"{year:04d}-{month:02d}.csv"
            digest = write_month(catalog, year, month, path)
            if sent.get(key) == digest:
                report.unchanged += 1
                continue
            try:
                await store.put_object(
                    key,
                    path,
                    content_type="text/csv",
                    metadata={"recflow-kind": "sms-monthly-csv", "sha256": digest},
                )
            except Exception as e:  # one month failing must not stop the others
                report.failed[f"sms-csv:{year:04d}-{month:02d}"] = f"{type(e).__name__}: {e}"
                continue
            sent[key] = digest
            report.uploaded.append(key)
            report.bytes += path.stat().st_size
            catalog.put_document(doc_key, sent)
    return report
