"""Process environment shared by every recflow process (CLI, worker, recorder, portal)."""

from __future__ import annotations

import os

# Telemetry off everywhere: recflow never talks to the internet on its own.
_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_API_LOG_RETRYABLE_ERRORS": "true",
    "PREFECT_UI_ENABLED": "true",
    "HF_HUB_OFFLINE": "1",
    # run logs (the flows' own INFO lines, state changes) reach the Prefect UI; chatty
    # libraries are quieted where each process sets up logging
    "PREFECT_LOGGING_LEVEL": "INFO",
}


def apply_defaults() -> None:
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
