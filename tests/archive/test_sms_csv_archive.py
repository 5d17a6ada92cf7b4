"""Monthly SMS CSVs reach the archive destinations that ask for them (moto's S3 server): Focus
key CSV/Monthly/YYYY/MM/<account>_SMSMessages_YYYY_MM.csv, one file per month (empty months
too), re-sent only when a month changed; destinations without ``sms_csv`` get none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from catalog.archive import ArchiveDestination
from catalog.repository import Catalog
from catalog.sms import ingest_sms
from services.archive import run_archive
from tests.archive.test_archive_flow import keys, resolver, s3


async def test_sms_csvs_delivered_and_resent_only_when_changed(
    catalog: Catalog, moto_endpoint: str, s3_bucket: str
) -> None:
    acct = catalog.account()
    acct.name = "Acme"
    catalog.save_account(acct)
    now = datetime.now(UTC)
    two_back = (now.replace(day=1) - timedelta(days=1)).replace(day=1) - timedelta(days=1)
    ingest_sms(
        catalog,
        from_number="+441110000333",
        to_number="+441230000321",
        text="old, with comma",
        received_at=two_back,
    )
    ingest_sms(
        catalog,
        from_number="+441110000333",
        to_number="+441230000321",
        text="this month",
        received_at=now - timedelta(minutes=5),
    )
    dest = ArchiveDestination(name="csv-s3", connector="s3-archive", formats=["MP3"], sms_csv=True)
    resolve = resolver(moto_endpoint, s3_archive=s3_bucket)

    rep = await run_archive(catalog, dest, resolve)
    assert rep.ok, rep.summary()
    got = keys(moto_endpoint, s3_bucket)
    months = []
    y, m = two_back.year, two_back.month
    while (y, m) <= (now.year, now.month):
        months.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    assert got == sorted(
        f"CSV/Monthly/{y:04d}/{m:02d}/Acme_SMSMessages_{y:04d}_{m:02d}.csv" for y, m in months
    )
    body = s3(moto_endpoint).get_object(Bucket=s3_bucket, Key=got[0])["Body"].read().decode()
    assert body.startswith("Message ID,Date time (UTC),From phone number")
    assert '"old, with comma"' in body
    middle = s3(moto_endpoint).get_object(Bucket=s3_bucket, Key=got[1])["Body"].read().decode()
    assert middle.count("\r\n") == 1  # a month without SMS: the header only

    again = await run_archive(catalog, dest, resolve)
    assert again.ok and again.uploaded_objects == 0  # nothing changed, nothing re-sent

    ingest_sms(
        catalog,
        from_number="+441110000999",
        to_number="+441230000321",
        text="another",
        received_at=now - timedelta(minutes=1),
    )
    third = await run_archive(catalog, dest, resolve)
    assert third.ok and third.uploaded_objects == 1  # only this month's file
    last = s3(moto_endpoint).get_object(Bucket=s3_bucket, Key=got[-1])["Body"].read().decode()
    assert "another" in last and "this month" in last


async def test_destinations_without_sms_csv_get_none(
    catalog: Catalog, moto_endpoint: str, s3_bucket: str
) -> None:
    ingest_sms(
        catalog,
        from_number="+441110000333",
        to_number="+441230000321",
        text="hi",
        received_at=datetime.now(UTC),
    )
    dest = ArchiveDestination(name="plain", connector="s3-archive", formats=["MP3"])
    rep = await run_archive(catalog, dest, resolver(moto_endpoint, s3_archive=s3_bucket))
    assert rep.ok and keys(moto_endpoint, s3_bucket) == []
