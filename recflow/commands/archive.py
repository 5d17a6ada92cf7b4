"""`recflow archive run|list` and `recflow retention report|run|hold|release|log`.

These run the archive and retention engines directly in this process, so they work with or
without a running Prefect server; the scheduled deployments run the very same code.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import typer

from recflow.context import (
    DATA_DIR_OPTION,
    JSON_OPTION,
    echo_json,
    open_catalog,
    prefect_api_url,
)


def register(app: typer.Typer) -> None:
    archive = typer.Typer(
        help="Archive recordings to S3, Azure Blob, SFTP or FTP.", no_args_is_help=True
    )
    app.add_typer(archive, name="archive")
    archive.command("run")(archive_run)
    archive.command("list")(archive_list)
    retention = typer.Typer(
        help="Retention: report, delete expired recordings, holds.", no_args_is_help=True
    )
    app.add_typer(retention, name="retention")
    retention.command("report")(retention_report)
    retention.command("run")(retention_run)
    retention.command("hold")(retention_hold)
    retention.command("release")(retention_release)
    retention.command("log")(retention_log)


def archive_run(
    name: str = typer.Argument(..., help="Archive name (from the `archive:` config section)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be uploaded"),
    limit: int | None = typer.Option(None, "--limit", help="At most this many recordings"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Archive every recording not yet in archive NAME (incremental, resumable, verified)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from catalog.archive import get_destination, load_destinations
    from services.archive import catalog_resolver, run_archive_sync

    catalog = open_catalog(data_dir)
    dest = get_destination(catalog, name)
    if dest is None:
        known = ", ".join(d.name for d in load_destinations(catalog)) or "none configured"
        typer.echo(f"error: no archive named {name!r} (known: {known})", err=True)
        raise typer.Exit(2)
    with Progress(
        TextColumn(f"archive {name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        disable=as_json or not sys.stderr.isatty(),
        console=None,
    ) as progress:
        bar = progress.add_task("archive", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        report = run_archive_sync(
            catalog,
            dest,
            catalog_resolver(catalog),
            dry_run=dry_run,
            progress=tick,
            limit=limit,
            actor="cli",
        )
    if as_json:
        out = report.as_dict()
        if dry_run:
            out["planned"] = [
                {"recording_id": r, "role": role, "key": k} for r, role, k in report.planned
            ]
        echo_json(out)
    else:
        for rid, role, key in report.planned:
            typer.echo(f"{rid[:8]}  {role:9}  {key}")
        for rid, err in list(report.failed.items())[:20]:
            typer.echo(f"failed {rid}: {err}", err=True)
        typer.echo(report.summary())
    if report.fatal or report.failed:
        raise typer.Exit(1)


def archive_list(as_json: bool = JSON_OPTION, data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Configured archives with what their ledgers hold."""
    from catalog.archive import ledger_stats, load_destinations

    catalog = open_catalog(data_dir)
    rows: list[dict[str, Any]] = []
    for d in load_destinations(catalog):
        stats = ledger_stats(catalog.db, d.name)
        rows.append(
            {
                "name": d.name,
                "connector": d.connector,
                "layout": d.layout,
                "formats": d.formats,
                "schedule": d.schedule,
                "timezone": d.timezone,
                "mode": d.mode,
                "secondary": d.secondary,
                "enabled": d.enabled,
                **stats,
            }
        )
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no archives configured (add an `archive:` section and `recflow config apply`)")
    for r in rows:
        typer.echo(
            f"{r['name']:20} {r['connector']:16} {r['layout']:16} {','.join(r['formats']):24} "
            f"{r['schedule'] or 'on demand':12} {r['mode']:5} {r['recordings']} recordings, "
            f"{r['objects']} objects, {r['bytes'] / 1e6:.1f} MB"
        )


def retention_report(
    as_csv: bool = typer.Option(False, "--csv", help="CSV of every expired recording"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """What retention would delete now, and what holds keep (run before lifting a legal hold)."""
    from services.archive import retention_report as report_of

    rep = report_of(open_catalog(data_dir))
    rows: list[dict[str, Any]] = [
        {
            "recording_id": d.subject.recording_id,
            "started_at": d.subject.started_at.isoformat(),
            "from": d.subject.from_number,
            "to": d.subject.to_number,
            "group": d.group,
            "days": d.days,
            "expires_at": d.expires_at.isoformat(),
            "action": d.action,
            "reason": d.reason,
        }
        for d in rep.decisions
        if d.expired
    ]
    if as_csv:
        w = csv.DictWriter(
            sys.stdout,
            fieldnames=list(rows[0])
            if rows
            else [
                "recording_id",
                "started_at",
                "from",
                "to",
                "group",
                "days",
                "expires_at",
                "action",
                "reason",
            ],
        )
        w.writeheader()
        w.writerows(rows)
        return
    if as_json:
        echo_json({"legal_hold": rep.legal_hold, "expired": rows})
        return
    for r in rows:
        typer.echo(
            f"{r['recording_id'][:8]}  {r['started_at'][:19]}  {r['from']:>16} → {r['to']:<16} "
            f"{r['group']:10} {r['action']:16} {r['reason']}"
        )
    typer.echo(
        rep.summary() + (" — legal hold is ON: nothing will be deleted" if rep.legal_hold else "")
    )


def retention_run(
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Delete every expired recording that no hold protects (each deletion is audited)."""
    from rich.progress import Progress

    from services.archive import retention_report as report_of
    from services.archive import run_retention
    from services.run_cleanup import run_forgetter

    catalog = open_catalog(data_dir)
    due = report_of(catalog).count("delete")
    if due and not yes and sys.stdin.isatty() and not typer.confirm(f"delete {due} recording(s)?"):
        raise typer.Exit(1)
    with Progress(transient=True, disable=due < 10 or not sys.stderr.isatty()) as progress:
        bar = progress.add_task("deleting", total=due)
        rep = run_retention(
            catalog,
            actor="cli",
            progress=lambda done, total: progress.update(bar, completed=done),
            forget_runs=run_forgetter(prefect_api_url()),
        )
    typer.echo(rep.summary())
    if rep.errors:
        raise typer.Exit(1)


def retention_hold(
    recording_id: str = typer.Argument(..., help="Recording id (or a unique prefix)"),
    reason: str = typer.Option(..., "--reason", help="Why (case number, request)"),
    by: str = typer.Option("cli", "--by", help="Who places the hold"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Put one recording on hold: retention never deletes it while the hold stands."""
    from catalog.archive import add_hold

    catalog = open_catalog(data_dir)
    rec = catalog.get_recording(recording_id)
    if rec is None:
        typer.echo(f"error: no recording {recording_id!r}", err=True)
        raise typer.Exit(2)
    add_hold(catalog.db, rec.id, reason=reason, by=by)
    typer.echo(f"hold placed on {rec.id}")


def retention_release(
    recording_id: str = typer.Argument(..., help="Recording id (or a unique prefix)"),
    by: str = typer.Option("cli", "--by", help="Who releases the hold"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Release every hold on one recording."""
    from catalog.archive import release_holds

    catalog = open_catalog(data_dir)
    rec = catalog.get_recording(recording_id)
    rid = rec.id if rec else recording_id
    n = release_holds(catalog.db, rid, by=by)
    typer.echo(f"released {n} hold(s) on {rid}")


def retention_log(
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """What retention (and archive moves) deleted, newest first."""
    from catalog.archive import deletion_log

    rows = [
        {
            "recording_id": r.recording_id,
            "what": r.what,
            "deleted_at": r.deleted_at.isoformat(),
            "from": r.from_number,
            "to": r.to_number,
            "sha256": r.sha256,
            "group": r.retention_group,
            "reason": r.reason,
            "actor": r.actor,
        }
        for r in deletion_log(open_catalog(data_dir).db, limit)
    ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['deleted_at'][:19]}  {r['recording_id'][:8]}  {r['what']:10} {r['actor']:10} "
            f"{r['reason']}"
        )
