"""`recflow recordings verify ID|--all` and `recflow recordings public-key`: tamper evidence."""

from __future__ import annotations

from pathlib import Path

import typer

from catalog.manifests import public_key_pem
from recflow.context import DATA_DIR_OPTION, JSON_OPTION, echo_json, open_catalog
from services.tamper import verify_all, verify_one


def verify(
    recording_id: str | None = typer.Argument(None, help="Recording id (or a unique prefix)"),
    every: bool = typer.Option(False, "--all", help="Every recording and the whole chain"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Check recordings against their signed manifests: prints intact, altered or missing (and
    for --all any break in the chain); exits 0 only when everything checked is intact."""
    if bool(recording_id) == every:
        typer.echo("error: give a recording id or --all", err=True)
        raise typer.Exit(2)
    catalog = open_catalog(data_dir)
    if every:
        verdicts = list(verify_all(catalog))
    else:
        assert recording_id is not None
        rec = catalog.get_recording(recording_id)
        verdicts = [verify_one(catalog, rec.id if rec else recording_id)]
    bad = [v for v in verdicts if not v.ok]
    if as_json:
        echo_json(
            {
                "ok": not bad,
                "checked": len(verdicts),
                "verdicts": [
                    {"subject": v.subject, "status": v.status, "reason": v.reason} for v in verdicts
                ],
            }
        )
    elif every:
        for v in bad:
            typer.echo(v.line())
        typer.echo(f"{len(verdicts) - len(bad)} intact, {len(bad)} not intact")
    else:
        typer.echo(verdicts[0].line())
    if bad:
        raise typer.Exit(1)


def public_key(data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """The Ed25519 public key (PEM) that verifies this installation's manifests."""
    catalog = open_catalog(data_dir)
    typer.echo(public_key_pem(catalog.settings.resolved_secret_key()), nl=False)


def seal_unsealed(
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Append manifests for recordings captured before tamper evidence existed (an upgrade):
    each is sealed with the file's hash as it is now, which proves integrity from now on only."""
    from services.tamper import seal_unsealed as run

    catalog = open_catalog(data_dir)
    n = run(catalog)
    typer.echo(f"sealed {n} recording(s)")
