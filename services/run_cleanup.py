"""Removing deleted recordings' flow runs from Prefect, for the shells that may not import the
flows shell (the CLI, the portal): retention passes :func:`run_forgetter` to
``services.archive.run_retention``, and a child ``python -m flows.archive forget-runs`` — the
flows shell, where the Prefect client lives — deletes the runs, as `recflow worker` runs there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def orchestrator_url(data_dir: Path) -> str | None:
    """PREFECT_API_URL when set, else the Prefect server `recflow up` started for ``data_dir``
    (recorded in its runtime.json)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    try:
        runtime = json.loads((data_dir / "runtime.json").read_text())
    except (OSError, ValueError):
        return None
    url = runtime.get("prefect_api_url") if isinstance(runtime, dict) else None
    return str(url) if url else None


def run_forgetter(api_url: str | None) -> Callable[[list[str]], int] | None:
    """A callback deleting the flow runs of the given recording ids on ``api_url`` and returning
    how many went; None when no Prefect server is known (nothing to remove)."""
    if not api_url:
        return None

    def forget(ids: list[str]) -> int:
        done = subprocess.run(
            [sys.executable, "-m", "flows.archive", "forget-runs"],
            input="\n".join(ids),
            capture_output=True,
            text=True,
            env={**os.environ, "PREFECT_API_URL": api_url},
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or ["failed"])[-1])
        return int(done.stdout.split()[-1])

    return forget
