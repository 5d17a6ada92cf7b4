"""`recflow sftp` (the hosted SFTP service alone), `recflow sftp credentials|revoke|status`."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer

from recflow.context import DATA_DIR_OPTION, open_catalog, use_data_dir


def register(app: typer.Typer) -> None:
    sftp = typer.Typer(
        help="The hosted SFTP service (Focus layout, read-only). Alone: run the server.",
        invoke_without_command=True,
    )
    app.add_typer(sftp, name="sftp")

    @sftp.callback()
    def serve(
        ctx: typer.Context,
        data_dir: Path | None = DATA_DIR_OPTION,
        poll: float = typer.Option(5.0, "--poll", help="Seconds between settings checks"),
    ) -> None:
        """Serve the SFTP tree while `sftp_server.enabled` is true (follows changes live)."""
        use_data_dir(data_dir)
        if ctx.invoked_subcommand is not None:
            return
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        from services.sftp_server import SftpService

        service = SftpService(open_catalog(), poll_seconds=poll)

        def changed(serving: object, port: int | None) -> None:
            msg = f"sftp: serving on port {port}" if serving else "sftp: not serving (disabled)"
            typer.echo(msg)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await service.run(stop, changed)

        asyncio.run(main())

    @sftp.command("credentials")
    def credentials(
        role: str = typer.Option(
            "", "--role", help="Role of a new SFTP user (default: keep, or admin the first time)"
        ),
    ) -> None:
        """Generate a fresh SFTP username and password (printed once; the old ones stop working)."""
        from catalog.audit import Audit
        from services.sftp_settings import SftpAccessError, generate_credentials

        catalog = open_catalog()
        if role and role not in ("admin", "supervisor", "user"):
            typer.echo("error: --role must be admin, supervisor or user", err=True)
            raise typer.Exit(2)
        try:
            cred = generate_credentials(catalog, role=role or None)
        except SftpAccessError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        Audit(catalog).record(
            "sftp.credentials",
            initiator="cli",
            resource=f"user:{cred.user.email}",
            detail=f"username={cred.username} role={cred.user.role.value}",
        )
        typer.echo(f"username: {cred.username}")
        typer.echo(f"password: {cred.password}")
        typer.echo("Shown once. The SFTP user never sees private calls.")

    @sftp.command("revoke")
    def revoke() -> None:
        """Make the SFTP credentials stop working (and disable the SFTP platform user)."""
        from catalog.audit import Audit
        from services.sftp_settings import revoke_credentials

        catalog = open_catalog()
        if revoke_credentials(catalog):
            Audit(catalog).record("sftp.revoked", initiator="cli")
            typer.echo("revoked")
        else:
            typer.echo("no SFTP credentials")

    @sftp.command("status")
    def status() -> None:
        """Settings, the current username and the host key fingerprint."""
        from services.sftp_settings import current_username, host_key_fingerprint, load_settings

        catalog = open_catalog()
        s = load_settings(catalog)
        typer.echo(f"enabled:  {s.enabled}")
        typer.echo(f"address:  {s.bind}:{s.port}")
        typer.echo(f"username: {current_username(catalog) or '-'}")
        typer.echo(f"host key: {host_key_fingerprint(catalog) or '(created on first start)'}")
