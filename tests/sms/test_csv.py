"""The monthly SMS CSV: the seed's name and columns, RFC 4180 quoting, one file per month."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

from catalog.sms import SmsCsvSettings, SmsSettings, ingest_sms, iter_sms, save_sms_settings
from services.sms import export_month, months_to_export
from services.sms_format import CSV_COLUMNS, csv_file_name, csv_key, parse_month

NASTY = [
    "plain",
    "comma, inside",
    'a "quoted" word',
    "two\nlines",
    "windows\r\nline end",
    '"',
    ",",
    " leading and trailing spaces ",
    "=1+2 looks like a formula",
    "emoji 🙂 and עברית and العربية",
]


def read(path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_round_trip_through_the_csv_module(sms_catalog, tmp_path):
    t = datetime(2025, 5, 1, 0, 0, 1, tzinfo=UTC)
    stored = [
        ingest_sms(
            sms_catalog,
            from_number="+441110000333",
            to_number="+441230000321",
            text=text,
            received_at=t + timedelta(hours=i),
        )
        for i, text in enumerate(NASTY)
    ]
    # neighbours in April and June stay out of May
    ingest_sms(
        sms_catalog,
        from_number="+1",
        to_number="+2",
        text="april",
        received_at=datetime(2025, 4, 30, 23, 59, 59, tzinfo=UTC),
    )
    ingest_sms(
        sms_catalog,
        from_number="+1",
        to_number="+2",
        text="june",
        received_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    path, rows = export_month(sms_catalog, 2025, 5, tmp_path, flat=True)
    assert rows == len(NASTY)
    assert path.name == "recflow_SMSMessages_2025_05.csv"
    table = read(path)
    assert table[0] == list(CSV_COLUMNS)
    assert table[1:] == [
        [s.id, s.received_at.strftime("%Y-%m-%d %H:%M:%S"), s.from_number, s.to_number, s.text]
        for s in stored
    ]
    assert path.read_bytes().endswith(b"\r\n")


def test_empty_month_is_a_header_only_file(sms_catalog, tmp_path):
    path, rows = export_month(sms_catalog, 2024, 2, tmp_path)
    assert rows == 0
    assert path == tmp_path / "CSV/Monthly/2024/02/recflow_SMSMessages_2024_02.csv"
    assert read(path) == [list(CSV_COLUMNS)]


def test_file_name_follows_the_seed_and_is_a_template(sms_catalog):
    acct = sms_catalog.account()
    acct.name = "Acme Ltd / UK"
    sms_catalog.save_account(acct)
    s = SmsCsvSettings()
    assert csv_file_name(s, "Acme Ltd / UK", 2025, 4) == "Acme-Ltd-UK_SMSMessages_2025_04.csv"
    assert (
        csv_file_name(SmsCsvSettings(account_id="1"), "x", 2025, 5) == "1_SMSMessages_2025_05.csv"
    )
    assert (
        csv_key("1_SMSMessages_2025_05.csv", 2025, 5)
        == "CSV/Monthly/2025/05/1_SMSMessages_2025_05.csv"
    )
    evil = SmsCsvSettings(file_name="../../{{ account }}/x_{{ year }}.csv")
    assert "/" not in csv_file_name(evil, "a", 2025, 5) and ".." not in csv_file_name(
        evil, "a", 2025, 5
    )


def test_months_to_export_covers_every_month_once(sms_catalog, tmp_path):
    save_sms_settings(sms_catalog, SmsSettings(monthly_csv=SmsCsvSettings(account_id="1")))
    ingest_sms(
        sms_catalog,
        from_number="+1",
        to_number="+2",
        text="x",
        received_at=datetime(2025, 1, 15, tzinfo=UTC),
    )
    now = datetime(2025, 5, 3, tzinfo=UTC)
    months = months_to_export(sms_catalog, now=now, out_dir=tmp_path)
    assert months == [(2025, 1), (2025, 2), (2025, 3), (2025, 4), (2025, 5)]
    for y, m in months:
        export_month(sms_catalog, y, m, tmp_path)
    # existing closed months are not rewritten; this month and last month always are
    assert months_to_export(sms_catalog, now=now, out_dir=tmp_path) == [(2025, 4), (2025, 5)]
    assert sorted(p.name for p in tmp_path.rglob("*.csv")) == [
        f"1_SMSMessages_2025_0{m}.csv" for m in range(1, 6)
    ]


def test_large_month_streams_in_pages(sms_catalog):
    t = datetime(2025, 3, 1, tzinfo=UTC)
    for i in range(25):
        ingest_sms(
            sms_catalog,
            from_number="+1",
            to_number="+2",
            text=f"n{i}",
            received_at=t + timedelta(seconds=i // 3),
        )  # ties on the timestamp
    got = [s.text for s in iter_sms(sms_catalog, batch=4)]
    assert sorted(got) == sorted(f"n{i}" for i in range(25)) and len(got) == 25


def test_parse_month():
    assert parse_month("2025-05") == (2025, 5)
    for bad in ("2025-13", "May 2025", "2025-5-1"):
        try:
            parse_month(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
