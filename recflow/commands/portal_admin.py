"""`recflow users create|list|unlock` and `recflow tokens create|list|revoke`.

These run on the machine itself (whoever can run them can read the catalog anyway), so they are
how the first administrator comes to exist. Secrets are printed exactly once.
"""

from __future__ import annotations

import getpass

import typer

from catalog.audit import Audit
from catalog.users import ApiTokens, Role, UserError, Users
from recflow.context import JSON_OPTION, echo_json, open_catalog


def _initiator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no passwd entry in some containers
        return "cli"


def register(app: typer.Typer) -> None:
    users = typer.Typer(help="Portal users (first admin, roles, unlock).", no_args_is_help=True)
    tokens = typer.Typer(
        help="API tokens for /api/v1 (shown once, stored hashed).", no_args_is_help=True
    )
    app.add_typer(users, name="users")
    from recflow.commands.people import register_users

    register_users(users)  # disable, enable, role, groups, reset-2fa, reset-password (issue 16)
    app.add_typer(tokens, name="tokens")

    @users.command("create")
    def users_create(
        email: str = typer.Argument(..., help="Login e-mail"),
        role: Role = typer.Option(
            Role.user, "--role", help="admin | group_admin | supervisor | user"
        ),
        number: list[str] = typer.Option([], "--number", help="Own number/extension (repeatable)"),
        group_number: list[str] = typer.Option(
            [], "--group-number", help="Number a supervisor oversees (repeatable)"
        ),
    ) -> None:
        """Create a user; prints the initial password and the otpauth:// enrolment URI once."""
        catalog = open_catalog()
        try:
            new = Users(catalog).create(email, role, numbers=number, group_numbers=group_number)
        except UserError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        Audit(catalog).record(
            "user_created",
            initiator=_initiator(),
            resource=f"user:{new.user.email}",
            detail=f"role={new.user.role.value}",
        )
        typer.echo(f"user:     {new.user.email} ({new.user.role.value})")
        typer.echo(f"password: {new.password}")
        typer.echo(f"totp:     {new.otpauth_uri}")
        typer.echo("Shown once. Scan the otpauth URI with an authenticator app; the first login")
        typer.echo("asks for a code and hands out recovery codes.")

    @users.command("list")
    def users_list(as_json: bool = JSON_OPTION) -> None:
        """List portal users (never their secrets)."""
        rows = Users(open_catalog()).list()
        if as_json:
            echo_json([u.model_dump(mode="json") for u in rows])
            return
        for u in rows:
            flags = [] if u.totp_enrolled else ["2fa-pending"]
            if u.disabled:
                flags.append("disabled")
            if u.locked_until:
                flags.append(f"locked-until={u.locked_until:%Y-%m-%d %H:%M}")
            typer.echo(f"{u.email:40} {u.role.value:10} {' '.join(flags)}")

    @users.command("unlock")
    def users_unlock(email: str) -> None:
        """Lift a lockout after repeated failed logins."""
        catalog = open_catalog()
        u = Users(catalog)
        user = u.by_email(email)
        if user is None:
            typer.echo(f"error: no user {email}", err=True)
            raise typer.Exit(1)
        from catalog.models import utcnow

        u.record_success(user.id, utcnow())
        Audit(catalog).record("user_unlocked", initiator=_initiator(), resource=f"user:{email}")
        typer.echo(f"unlocked {email}")

    @tokens.command("create")
    def tokens_create(name: str = typer.Argument(..., help="What the token is for")) -> None:
        """Create an API token and print it once."""
        catalog = open_catalog()
        try:
            tok, secret = ApiTokens(catalog).create(name, created_by=_initiator())
        except UserError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        Audit(catalog).record("token_created", initiator=_initiator(), resource=f"token:{tok.name}")
        typer.echo(secret)
        typer.echo(
            f"(token {tok.name!r}, id {tok.id}; shown once, use as 'Authorization: Bearer …')",
            err=True,
        )

    @tokens.command("list")
    def tokens_list(
        all_: bool = typer.Option(False, "--all", help="Include revoked tokens"),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """List API tokens (name, prefix, last use; never the token)."""
        rows = ApiTokens(open_catalog()).list(include_revoked=all_)
        if as_json:
            echo_json([t.model_dump(mode="json") for t in rows])
            return
        for t in rows:
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            state = " revoked" if t.revoked_at else ""
            typer.echo(f"{t.id}  {t.name:24} {t.prefix}…  last used {used}{state}")

    @tokens.command("revoke")
    def tokens_revoke(id_or_name: str) -> None:
        """Revoke a token by id or name; it stops working at once."""
        catalog = open_catalog()
        gone = ApiTokens(catalog).revoke(id_or_name)
        if not gone:
            typer.echo(f"error: no active token {id_or_name}", err=True)
            raise typer.Exit(1)
        for t in gone:
            Audit(catalog).record(
                "token_revoked", initiator=_initiator(), resource=f"token:{t.name}"
            )
            typer.echo(f"revoked {t.name} ({t.id})")
