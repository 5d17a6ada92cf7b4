"""The `archive` and `retention` flows: thin Prefect shells over ``services.archive``, one
scheduled deployment schedule per archive destination (``archive_schedules``)."""

from __future__ import annotations

import asyncio
import sys
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
        loop = asyncio.get_running_loop()

        def forget(ids: list[str]) -> int:  # called from retention's thread
            return asyncio.run_coroutine_threadsafe(forget_recording_runs(ids), loop).result()

        rep = await asyncio.to_thread(
            run_retention, catalog, actor="retention-flow", forget_runs=forget
        )
    get_run_logger().info(rep.summary())
    return {
        "deleted": rep.deleted,
        "due": rep.count("delete"),
        "held": rep.count("held"),
        "legal_hold": rep.legal_hold,
        "errors": rep.errors,
        "runs_removed": rep.runs_removed,
    }


async def forget_recording_runs(recording_ids: list[str]) -> int:
    """Delete the `process-recording` runs (and their artifacts) of deleted recordings."""
    from prefect.client.orchestration import get_client

    from flows.dispatch import delete_item_runs
    from flows.registry import work_kind

    async with get_client() as client:
        return await delete_item_runs(client, work_kind("process-recording"), recording_ids)


def main(argv: list[str]) -> int:
    """``python -m flows.archive forget-runs`` < ids: how `recflow retention run` (a CLI process
    that imports no flows) removes the runs of what it deleted; prints the count."""
    if argv != ["forget-runs"]:
        print("usage: python -m flows.archive forget-runs < recording ids", file=sys.stderr)
        return 2
    ids = sys.stdin.read().split()
    print(asyncio.run(forget_recording_runs(ids)) if ids else 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
