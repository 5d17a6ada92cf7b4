"""Scheduled call reports: the `reports:` section, one Prefect schedule per report, the previous
day/week/month, and delivery by e-mail (a real SMTP server) or into S3 (moto)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from catalog.models import Recording
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from flows.reports import report_schedules, send_report
from services.config.base import ConfigFileError
from services.config.document import apply_document
from services.scheduled_reports import period_for
from tests.archive.conftest import moto_endpoint, s3_bucket  # noqa: F401 (fixtures)
from tests.fakes.smtp import FakeSMTP
from tests.portal.portal_support import write_wav


@pytest.fixture
def catalog(tmp_path: Path):
    cat = Catalog.open(RecflowSettings(data_dir=tmp_path / "data", secret_key="reports-key"))
    yield cat
    cat.db.dispose()


def _calls(catalog: Catalog, tmp_path: Path, days_ago: list[int]) -> None:
    wav = write_wav(tmp_path / "c.wav")
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for i, d in enumerate(days_ago):
        rec = Recording(
            started_at=now - timedelta(days=d),
            duration_seconds=10.0 + i,
            direction="inbound" if i % 2 else "outbound",
            from_number="+1555",
            to_number="100",
        )
        catalog.add_recording(rec, audio=wav)


def test_periods_are_the_last_complete_ones():
    now = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)  # a Wednesday
    p, label = period_for("previous_day", now)
    assert (p.since, p.until, label) == (
        datetime(2026, 3, 3, tzinfo=UTC),
        datetime(2026, 3, 4, tzinfo=UTC),
        "2026-03-03",
    )
    p, label = period_for("previous_week", now)
    assert label == "2026-02-23..2026-03-01" and p.until == datetime(2026, 3, 2, tzinfo=UTC)
    p, label = period_for("previous_month", now, "Europe/London")
    assert label == "2026-02-01..2026-02-28"


def test_section_validates_and_schedules_one_cron_each(catalog):
    conn = {
        "name": "mail",
        "kind": "email",
        "config": {"host": "127.0.0.1", "from_address": "r@x.example"},
    }
    with pytest.raises(ConfigFileError) as e:
        apply_document(
            catalog,
            {
                "reports": [
                    {
                        "name": "d",
                        "schedule": "every day",
                        "connector": "nowhere",
                        "timezone": "Mars/Base",
                    }
                ]
            },
        )
    paths = {p for p, _ in e.value.problems}
    assert paths == {"reports.d.schedule", "reports.d.connector", "reports.d.timezone"}
    apply_document(
        catalog,
        {
            "connectors": [conn],
            "reports": [
                {"name": "daily", "schedule": "0 6 * * *", "connector": "mail"},
                {"name": "off", "schedule": "0 7 * * 1", "connector": "mail", "enabled": False},
            ],
        },
    )
    (cron,) = report_schedules(catalog)
    assert cron.cron == "0 6 * * *" and cron.parameters == {"name": "daily"}


async def test_daily_report_is_emailed_with_the_previous_days_calls(catalog, tmp_path):
    _calls(catalog, tmp_path, [0, 1, 1, 1, 2])  # three calls yesterday
    with FakeSMTP() as smtp:
        apply_document(
            catalog,
            {
                "connectors": [
                    {
                        "name": "mail",
                        "kind": "email",
                        "config": {
                            "host": "127.0.0.1",
                            "port": smtp.port,
                            "from_address": "reports@x.example",
                            "starttls": False,
                        },
                    }
                ],
                "reports": [
                    {
                        "name": "daily",
                        "schedule": "0 6 * * *",
                        "group_by": "all",
                        "connector": "mail",
                        "to": ["boss@x.example"],
                    }
                ],
            },
        )
        out = await send_report(catalog, "daily")
        (msg,) = smtp.messages
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert out["period"] == yesterday and msg["To"] == "boss@x.example"
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == f"daily-{yesterday}.csv"
    (row,) = list(csv.DictReader(io.StringIO(att.get_content())))
    assert (row["key"], row["calls"]) == ("all", "3")


async def test_weekly_xlsx_report_is_stored_in_s3(catalog, tmp_path, moto_endpoint, s3_bucket):  # noqa: F811
    _calls(catalog, tmp_path, [0, 1, 8, 9])
    apply_document(
        catalog,
        {
            "connectors": [
                {
                    "name": "store",
                    "kind": "s3",
                    "config": {
                        "bucket": s3_bucket,
                        "endpoint_url": moto_endpoint,
                        "access_key_id": "testing",
                        "secret_access_key": "testing",
                        "region": "us-east-1",
                    },
                }
            ],
            "reports": [
                {
                    "name": "weekly",
                    "schedule": "0 6 * * 1",
                    "period": "previous_week",
                    "format": "xlsx",
                    "connector": "store",
                }
            ],
        },
    )
    out = await send_report(catalog, "weekly")
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    body = s3.get_object(Bucket=s3_bucket, Key=out["to"])["Body"].read()
    assert out["to"].startswith("reports/weekly/weekly-") and body[:2] == b"PK"
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))
    week, _ = period_for("previous_week", datetime.now(UTC))
    expected: dict[str, int] = {}
    for r in catalog.list_recordings(limit=100):
        if week.since <= r.started_at < week.until:
            day = r.started_at.strftime("%Y-%m-%d")
            expected[day] = expected.get(day, 0) + 1
    assert {k: n for k, n, *_ in rows[1:]} == expected and expected
