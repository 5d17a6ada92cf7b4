"""The `archive` and `retention` flows: thin Prefect shells over ``services.archive``, one
scheduled deployment schedule per archive destination (``archive_schedules``)."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import flow

from catalog import archive as ledger
from catalog.repository import Catalog
from services.archive import (
    ArchiveError,
    catalog_resolver,
    retention_report,
    run_archive,
    run_retention,
)


def archive_schedules(catalog: Catalog) -> list[Any]:
    """One Prefect deployment schedule per enabled archive with a cron schedule, plus none for
    retention here (its own deployment has its own schedule)."""
    from prefect.schedules import Cron

    out = []
    for d in ledger.load_destinations(catalog):
        if d.enabled and d.schedule:
            out.append(
                Cron(
                    d.schedule,
                    timezone=d.timezone,
                    parameters={"destination": d.name},
                    slug=f"archive-{d.name}",
                )
            )
    return out


def retention_schedules(catalog: Catalog) -> list[Any]:
    from prefect.schedules import Cron

    policy = ledger.load_policy(catalog)
    return [Cron(policy.schedule, timezone=policy.timezone, slug="retention-nightly")]


def _open_catalog() -> Catalog:
    return Catalog.open()


@flow(name="archive", log_prints=False, retries=0)
async def archive_flow(destination: str, dry_run: bool = False) -> dict[str, Any]:
    """Archive new recordings to one destination (scheduled per destination)."""
    from prefect import get_run_logger

    logger = get_run_logger()
    catalog = _open_catalog()
    dest = ledger.get_destination(catalog, destination)
    if dest is None:
        raise ArchiveError(f"no archive named {destination!r}")
    report = await run_archive(
        catalog, dest, catalog_resolver(catalog), dry_run=dry_run, actor="archive-flow"
    )
    logger.info(report.summary())
    if report.fatal or report.failed:
        raise ArchiveError(report.summary())
    return report.as_dict()


@flow(name="retention", log_prints=False, retries=0)
async def retention_flow(dry_run: bool = False) -> dict[str, Any]:
    """Nightly retention: delete expired recordings nothing holds."""
    from prefect import get_run_logger

    catalog = _open_catalog()
    if dry_run:
        rep = await asyncio.to_thread(retention_report, catalog)
    else:
        rep = await asyncio.to_thread(run_retention, catalog, actor="retention-flow")
    get_run_logger().info(rep.summary())
    return {
        "deleted": rep.deleted,
        "due": rep.count("delete"),
        "held": rep.count("held"),
        "legal_hold": rep.legal_hold,
        "errors": rep.errors,
    }
