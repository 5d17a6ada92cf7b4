"""`recflow users disable|enable|role|reset-2fa|reset-password` (issue 16): the same operations
as the portal's People page and /api/v1/users, run on the server as the account itself."""

from __future__ import annotations

import getpass

import typer

from recflow.context import open_catalog
from services.people import People, PeopleError


def _people() -> People:
    try:
        who = f"cli:{getpass.getuser()}"
    except Exception:  # no passwd entry in some containers
        who = "cli"
    return People(open_catalog(), None, initiator=who)


def _run(fn, *args, **kw):  # type: ignore[no-untyped-def]
    try:
        return fn(*args, **kw)
    except PeopleError as e:
        typer.echo(f"error: {e.reason}", err=True)
        raise typer.Exit(1) from None


def register_users(users: typer.Typer) -> None:
    @users.command("disable")
    def disable(email: str) -> None:
        """Disable a user: their sessions and API tokens stop at once."""
        _run(_people().update, email, disabled=True)
        typer.echo(f"disabled {email}")

    @users.command("enable")
    def enable(email: str) -> None:
        """Enable a disabled user again."""
        _run(_people().update, email, disabled=False)
        typer.echo(f"enabled {email}")

    @users.command("role")
    def role(
        email: str,
        new_role: str = typer.Argument(..., help="admin | group_admin | supervisor | user"),
    ) -> None:
        """Change a user's role."""
        v = _run(_people().update, email, role=new_role)
        typer.echo(f"{email}: {v.role}")

    @users.command("groups")
    def groups(email: str, group: list[str] = typer.Argument(None, help="Group names")) -> None:
        """Make a user a member of exactly these groups."""
        v = _run(_people().update, email, groups=list(group or []))
        typer.echo(f"{email}: {', '.join(v.groups) or 'no groups'}")

    @users.command("reset-2fa")
    def reset_2fa(email: str) -> None:
        """New TOTP secret (printed once); the user enrols again at the next login."""
        typer.echo(f"totp: {_run(_people().reset_2fa, email)}")

    @users.command("reset-password")
    def reset_password(email: str) -> None:
        """New one-time password (printed once), to be changed at the next login."""
        typer.echo(f"password: {_run(_people().reset_password, email)}")
