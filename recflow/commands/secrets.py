"""`recflow secrets rotate`: re-encrypt stored secrets under the current RECFLOW_SECRET_KEY."""

from __future__ import annotations

import typer

from recflow.context import open_catalog


def register(app: typer.Typer) -> None:
    secrets = typer.Typer(help="Secret-key rotation (RECFLOW_SECRET_KEY).", no_args_is_help=True)
    app.add_typer(secrets, name="secrets")

    @secrets.command("rotate")
    def rotate() -> None:
        """Re-encrypt connector secrets and TOTP seeds under RECFLOW_SECRET_KEY, reading them
        with it or RECFLOW_SECRET_KEY_PREVIOUS (the old key). All or nothing."""
        from catalog.audit import Audit
        from services.secrets_rotation import RotationError, rotate

        catalog = open_catalog()
        try:
            r = rotate(catalog)
        except RotationError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        Audit(catalog).record(
            "secrets_rotated",
            initiator="cli",
            resource="secret-key",
            detail=f"connectors={r.connectors} totp={r.totp_seeds}",
        )
        typer.echo(f"re-encrypted: {r.connectors} connector(s), {r.totp_seeds} TOTP seed(s)")
        if r.users_with_recovery_codes and catalog.settings.previous_secret_keys():
            typer.echo(
                f"note: {r.users_with_recovery_codes} user(s) hold recovery codes made before; "
                "they work while RECFLOW_SECRET_KEY_PREVIOUS is set (users can make new ones)"
            )
        typer.echo("the previous key can now be removed from RECFLOW_SECRET_KEY_PREVIOUS")
