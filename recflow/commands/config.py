"""`recflow config apply|export`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
import yaml

from recflow.context import open_catalog
from services.config.base import ConfigFileError, load_yaml
from services.config.document import apply_document, export_document


def register(app: typer.Typer) -> None:
    config = typer.Typer(help="Declarative configuration (validate everything, then apply).")
    config.command("apply")(apply)
    config.command("export")(export)
    app.add_typer(config, name="config")


def apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML file"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate and print what would change; change nothing"
    ),
) -> None:
    """Validate FILE completely, then make the system match it (idempotent)."""
    catalog = open_catalog()
    try:
        changes = apply_document(catalog, load_yaml(file.read_text()), dry_run=dry_run)
    except ConfigFileError as e:
        for path, msg in e.problems:
            typer.echo(f"error: {path}: {msg}", err=True)
        raise typer.Exit(2) from None
    if dry_run:
        for line in changes:
            typer.echo(f"would change: {line}")
        typer.echo(f"valid: {len(changes)} change(s) would be applied")
        return
    for line in changes:
        typer.echo(line)
    typer.echo(f"applied: {len(changes)} change(s)")


def export() -> None:
    """Print the current configuration as YAML (secrets as references or masked, never
    values); applying it back changes nothing."""
    doc = export_document(open_catalog())
    yaml.safe_dump(doc, sys.stdout, sort_keys=False, allow_unicode=True)
