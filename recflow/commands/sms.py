"""`recflow sms list|show|ingest|export|retry`."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import typer

from recflow.context import DATA_DIR_OPTION, JSON_OPTION, echo_json, open_catalog


def _sms_json(sms: object) -> dict[str, object]:
    return sms.model_dump(mode="json")  # type: ignore[attr-defined, no-any-return]


def register(app: typer.Typer) -> None:
    sms_app = typer.Typer(help="SMS: list, show, ingest, monthly CSV export.", no_args_is_help=True)
    app.add_typer(sms_app, name="sms")

    @sms_app.command("list")
    def list_(
        as_json: bool = JSON_OPTION,
        limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first"),
        month: str | None = typer.Option(None, "--month", help="Only this month (YYYY-MM)"),
        number: str | None = typer.Option(None, "--number", help="Only SMS from or to NUMBER"),
        status: str | None = typer.Option(
            None, "--status", help="pending|processing|processed|failed"
        ),
        data_dir: Path | None = DATA_DIR_OPTION,
    ) -> None:
        """List stored SMS, newest first."""
        from catalog.sms import SmsStatus, list_sms
        from services.sms_format import month_bounds, parse_month

        since = until = None
        if month:
            try:
                since, until = month_bounds(*parse_month(month))
            except ValueError as e:
                raise typer.BadParameter(str(e), param_hint="--month") from None
        try:
            st = SmsStatus(status) if status else None
        except ValueError:
            raise typer.BadParameter(f"unknown status {status!r}", param_hint="--status") from None
        items = list_sms(
            open_catalog(data_dir), limit=limit, since=since, until=until, number=number, status=st
        )
        if as_json:
            echo_json([_sms_json(s) for s in items], ensure_ascii=False)
            return
        if not items:
            typer.echo("no SMS")
            return
        for s in items:
            when = s.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            text = " ".join(s.text.split())
            text = text if len(text) <= 50 else text[:49] + "…"
            typer.echo(
                f"{s.id[:8]}  {when}  {s.direction.value:<8} {s.from_number:>16} → "
                f"{s.to_number:<16} {s.status.value:<10} {text}"
            )

    @sms_app.command("show")
    def show(
        sms_id: str = typer.Argument(..., help="SMS (interaction) id or a unique prefix"),
        data_dir: Path | None = DATA_DIR_OPTION,
    ) -> None:
        """One SMS with its email deliveries, as JSON."""
        from catalog.sms import get_sms

        catalog = open_catalog(data_dir)
        sms = get_sms(catalog, sms_id)
        if sms is None:
            typer.echo(f"no SMS {sms_id}", err=True)
            raise typer.Exit(1)
        out = _sms_json(sms)
        out["deliveries"] = [
            d.model_dump(mode="json") for d in catalog.list_deliveries(subject_id=sms.id)
        ]
        echo_json(out, ensure_ascii=False)

    @sms_app.command("ingest")
    def ingest(
        from_number: str = typer.Option(..., "--from", help="Sender number"),
        to_number: str = typer.Option(..., "--to", help="Recipient number"),
        text: str = typer.Option(..., "--text", help="Message text"),
        subscriber: str | None = typer.Option(None, "--subscriber", help="Subscriber number"),
        timestamp: str | None = typer.Option(None, "--timestamp", help="ISO 8601; default now"),
        data_dir: Path | None = DATA_DIR_OPTION,
    ) -> None:
        """Store an SMS as if received (imports, tests); prints its id."""
        from catalog.models import utcnow
        from catalog.sms import SmsValidationError, ingest_sms

        try:
            sms = ingest_sms(
                open_catalog(data_dir),
                from_number=from_number,
                to_number=to_number,
                text=text,
                received_at=timestamp or utcnow(),
                subscriber=subscriber,
                source="cli",
            )
        except SmsValidationError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        typer.echo(sms.id)

    @sms_app.command("export")
    def export(
        month: str = typer.Option(..., "--month", help="YYYY-MM, e.g. 2025-05"),
        out: Path | None = typer.Option(
            None,
            "--out",
            help="Write the file into DIR (default: DATA_DIR/exports/CSV/Monthly/YYYY/MM)",
        ),
        data_dir: Path | None = DATA_DIR_OPTION,
    ) -> None:
        """Write one month's SMS CSV (a header-only file for a month without SMS)."""
        from services.sms import export_month
        from services.sms_format import parse_month

        try:
            year, mon = parse_month(month)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--month") from None
        path, rows = export_month(open_catalog(data_dir), year, mon, out, flat=out is not None)
        typer.echo(f"{path}  ({rows} SMS)")

    @sms_app.command("retry")
    def retry(
        sms_id: str = typer.Argument(..., help="A failed SMS's id"),
        data_dir: Path | None = DATA_DIR_OPTION,
    ) -> None:
        """Hand a failed SMS to the sms-to-email flow again."""
        from catalog.sms import get_sms, retry_failed_sms

        catalog = open_catalog(data_dir)
        sms = get_sms(catalog, sms_id)
        if sms is None or not retry_failed_sms(catalog, sms.id):
            typer.echo(f"no failed SMS {sms_id}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{sms.id} queued again")
