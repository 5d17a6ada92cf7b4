"""How a CLI process finds the running system: the data dir (``--data-dir`` or
``RECFLOW_DATA_DIR``), the catalog under it, and ``runtime.json`` written by `recflow up`; and
the options and output every command shares (``--data-dir``, ``--json``)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from catalog.models import assume_utc
from catalog.repository import Catalog
from catalog.settings import RecflowSettings, get_settings

DATA_DIR_OPTION = typer.Option(None, "--data-dir", envvar="RECFLOW_DATA_DIR", help="Data directory")
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output")


def use_data_dir(data_dir: Path | None) -> None:
    """Make ``data_dir`` the data dir of this process and of every child it starts."""
    if data_dir is not None:
        os.environ["RECFLOW_DATA_DIR"] = str(data_dir.expanduser().resolve())
        get_settings.cache_clear()


def settings() -> RecflowSettings:
    return get_settings()


def open_catalog(data_dir: Path | None = None) -> Catalog:
    """The catalog of ``data_dir`` (made this process's data dir), else of the current one."""
    use_data_dir(data_dir)
    return Catalog.open(get_settings())


def echo_json(data: Any, *, indent: int | None = 2, ensure_ascii: bool = True) -> None:
    """``--json`` output: one JSON document on stdout."""
    typer.echo(json.dumps(data, indent=indent, ensure_ascii=ensure_ascii))


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 option value (``Z`` allowed; naive means UTC); None when not given."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"not an ISO 8601 date/time: {value!r}", param_hint=option
        ) from None
    return assume_utc(dt)


def runtime_path() -> Path:
    return get_settings().resolved_data_dir / "runtime.json"


def read_runtime() -> dict[str, Any]:
    try:
        return json.loads(runtime_path().read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def prefect_api_url() -> str | None:
    """PREFECT_API_URL when set, else the server `recflow up` started for this data dir."""
    return os.environ.get("PREFECT_API_URL") or read_runtime().get("prefect_api_url")
