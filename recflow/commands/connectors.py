"""`recflow connectors list|check NAME` and `recflow deliveries list|retry`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from catalog.models import DeliveryStatus
from recflow.context import DATA_DIR_OPTION, JSON_OPTION, echo_json, open_catalog


def register(app: typer.Typer) -> None:
    conn = typer.Typer(
        help="Installed connector kinds and configured connectors.", no_args_is_help=True
    )
    app.add_typer(conn, name="connectors")
    conn.command("list")(list_connectors)
    conn.command("check")(check)
    conn.command("publish")(publish)
    dlv = typer.Typer(
        help="The delivery log: every attempt of every connector call.", no_args_is_help=True
    )
    app.add_typer(dlv, name="deliveries")
    dlv.command("list")(list_deliveries)
    dlv.command("retry")(retry)


def list_connectors(
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Show installed connector kinds (with capabilities) and the configured connectors."""
    from catalog.connector_configs import list_connectors as stored_connectors
    from connectors import registry
    from connectors.health import health_of

    kinds = registry.available()
    errors = registry.load_errors()
    catalog = open_catalog(data_dir)
    configured = stored_connectors(catalog)
    health = {s.name: health_of(catalog, s) for s in configured}
    if as_json:
        out = {
            "kinds": [
                {
                    "kind": k,
                    "display_name": c.display_name,
                    "capabilities": sorted(c.capabilities),
                    "config_schema": c.config_model.model_json_schema(),
                }
                for k, c in sorted(kinds.items())
            ],
            "load_errors": [e.__dict__ for e in errors],
            "configured": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "enabled": s.enabled,
                    "on": s.on,
                    "health": health[s.name].as_json(),
                }
                for s in configured
            ],
        }
        echo_json(out)
        return
    typer.echo("Installed kinds:")
    for k, c in sorted(kinds.items()):
        typer.echo(f"  {k:<18} {c.display_name:<22} {', '.join(sorted(c.capabilities))}")
    for e in errors:
        typer.echo(f"  {e.kind:<18} FAILED TO LOAD ({e.target}): {e.error}")
    typer.echo("Configured:")
    if not configured:
        typer.echo("  (none; add a `connectors:` section and run `recflow config apply`)")
    for s in configured:
        state = "enabled" if s.enabled else "disabled"
        on = f" on {','.join(s.on)}" if s.on else ""
        typer.echo(f"  {s.name:<24} {s.kind:<12} {state}{on}  [{health[s.name].label}]")
        h = health[s.name]
        if h.state in ("failing", "needs_reauth") and h.last_error:
            typer.echo(f"  {'':<24} last error: {h.last_error[:160]}")


def check(
    name: str = typer.Argument(..., help="Configured connector name"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Test the connection of a configured connector (exit 1 with a stable code on failure)."""
    from connectors.base import CheckResult
    from connectors.configured import ConnectorNotFound, load
    from connectors.secrets import SecretsError

    async def run() -> CheckResult:
        try:
            connector = load(open_catalog(data_dir), name)
        except (ConnectorNotFound, KeyError) as e:
            return CheckResult(ok=False, code="not_found", message=str(e.args[0] if e.args else e))
        except SecretsError as e:
            return CheckResult(ok=False, code="invalid_config", message=str(e))
        try:
            return await connector.check()
        finally:
            await connector.aclose()

    result = asyncio.run(run())
    if as_json:
        echo_json({"name": name, **result.__dict__}, indent=None)
    else:
        typer.echo(f"{name}: {'ok' if result.ok else 'FAILED'} [{result.code}] {result.message}")
    if not result.ok:
        raise typer.Exit(1)


def publish(
    name: str = typer.Argument(..., help="Configured connector name"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Save a configured connector as a Prefect block (secrets stay secret) for your own flows."""
    import os

    from catalog.connector_configs import get_connector
    from connectors.configured import split_values, values_of
    from connectors.secrets import SecretsError
    from recflow.context import prefect_api_url

    stored = get_connector(open_catalog(data_dir), name)
    if stored is None:
        typer.echo(f"error: no connector named {name!r}", err=True)
        raise typer.Exit(2)
    api = prefect_api_url()
    if not api:
        typer.echo("error: no Prefect API: set PREFECT_API_URL or run `recflow up`", err=True)
        raise typer.Exit(2)
    os.environ["PREFECT_API_URL"] = api
    try:
        plain, secret = split_values(stored.kind, values_of(stored))
    except (SecretsError, KeyError) as e:
        typer.echo(f"error: {e.args[0] if e.args else e}", err=True)
        raise typer.Exit(2) from None
    from recflow.prefect_blocks import publish as save_block

    try:
        slug = save_block(stored.kind, plain, secret, name)
    except Exception as e:  # the Prefect API refused or is down: one line, no traceback
        typer.echo(f"error: cannot save the block: {type(e).__name__}: {e}"[:300], err=True)
        raise typer.Exit(1) from None
    if as_json:
        echo_json({"name": name, "block": slug, "secret_fields": sorted(secret)}, indent=None)
    else:
        typer.echo(f"{name}: saved as Prefect block {slug} ({len(secret)} secret field(s))")


def list_deliveries(
    failed: bool = typer.Option(False, "--failed", help="Only failed deliveries"),
    recording: str | None = typer.Option(None, "--recording", help="Only this subject id"),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """List deliveries, newest first."""
    rows = open_catalog(data_dir).list_deliveries(
        subject_id=recording, status=DeliveryStatus.failed if failed else None, limit=limit
    )
    if as_json:
        echo_json([d.model_dump(mode="json") for d in rows])
        return
    if not rows:
        typer.echo("no deliveries")
        return
    for d in rows:
        when = d.updated_at.strftime("%Y-%m-%d %H:%M:%S")
        ext = f" → {d.external_id}" if d.external_id else ""
        err = f"  {d.error[:160]}" if d.error and d.status is not DeliveryStatus.succeeded else ""
        typer.echo(
            f"{d.id[:8]}  {when}  {d.status.value:<9} {d.connector:<20} {d.action:<22} "
            f"{d.subject_kind}:{d.subject_id[:8]} try {d.attempt}{ext}{err}"
        )


def retry(
    delivery_id: str = typer.Argument(..., help="Delivery id (or id prefix, or idempotency key)"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Send a failed delivery again (a succeeded one is never resent)."""
    from services.deliveries import retry_delivery

    catalog = open_catalog(data_dir)
    key = _resolve(catalog, delivery_id)
    try:
        d = asyncio.run(retry_delivery(catalog, key))
    except LookupError as e:
        typer.echo(f"error: {e.args[0] if e.args else e}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        echo_json(d.model_dump(mode="json"), indent=None)
    else:
        detail = d.external_id or d.error
        typer.echo(f"{d.id[:8]} {d.status.value} via {d.connector} (try {d.attempt}) {detail}")
    if d.status is not DeliveryStatus.succeeded:
        raise typer.Exit(1)


def _resolve(catalog, value: str) -> str:  # type: ignore[no-untyped-def]
    if catalog.get_delivery(value) is not None:
        return value
    # people type id prefixes, as with git
    matches = [d for d in catalog.list_deliveries(limit=10000) if d.id.startswith(value)]
    return matches[0].id if len(matches) == 1 else value
