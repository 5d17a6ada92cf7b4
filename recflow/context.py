"""How a CLI process finds the running system: the data dir (``--data-dir`` or
``RECFLOW_DATA_DIR``), the catalog under it, and ``runtime.json`` written by `recflow up`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from catalog.repository import Catalog
from catalog.settings import RecflowSettings, get_settings


def use_data_dir(data_dir: Path | None) -> None:
    """Make ``data_dir`` the data dir of this process and of every child it starts."""
    if data_dir is not None:
        os.environ["RECFLOW_DATA_DIR"] = str(data_dir.expanduser().resolve())
        get_settings.cache_clear()


def settings() -> RecflowSettings:
    return get_settings()


def open_catalog() -> Catalog:
    return Catalog.open(get_settings())


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
