"""Per-process objects the flows share: the catalog, the worker identity, the transcriber,
configured connectors.

Flows run inside long-lived worker processes, so these are built once per process."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catalog.repository import Catalog
    from connectors.base import Connector, Transcriber

_worker_id: str | None = None
_transcriber_override: Transcriber | None = None
_catalog: Catalog | None = None
_dispatch_window = 50


_local_runs: asyncio.Queue[Any] | None = None


def use_local_run_queue(queue: asyncio.Queue[Any] | None) -> None:
    """Runs this process's dispatcher creates are handed to the worker owning ``queue`` in
    memory. Only a hint: the worker still takes each run through Prefect (Pending), so a run
    another worker took first is simply skipped. One queue per event loop: the worker sets it
    when it starts and clears it when it stops."""
    global _local_runs
    _local_runs = queue


def offer_run(run: Any) -> None:
    if _local_runs is not None:
        _local_runs.put_nowait(run)


def set_dispatch_window(runs: int) -> None:
    """How many recordings may wait in Prefect as scheduled runs at once (see flows.dispatch)."""
    global _dispatch_window
    _dispatch_window = max(1, runs)


def dispatch_window() -> int:
    return _dispatch_window


def use_catalog(catalog: Catalog | None) -> None:
    """The worker hands its catalog to the flows it runs (one catalog per process); None
    forgets it, so the next ``get_catalog()`` opens the one the settings name."""
    global _catalog
    _catalog = catalog


def get_catalog() -> Catalog:
    global _catalog
    if _catalog is None:
        from catalog.repository import Catalog

        _catalog = Catalog.open()
    return _catalog


def worker_id() -> str:
    """This process's identity in the catalog's claims (host:pid:random)."""
    global _worker_id
    if _worker_id is None:
        _worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return _worker_id


def override_transcriber(transcriber: Transcriber | None) -> None:
    """Benchmarks only: swap the engine (e.g. a null transcriber to isolate orchestration)."""
    global _transcriber_override
    _transcriber_override = transcriber


def transcriber_for(catalog: Catalog) -> Transcriber:
    """The configured engine: `transcription: {connector: NAME}` in the config file names a
    connector with the transcribe capability; without it, bundled faster-whisper."""
    if _transcriber_override is not None:
        return _transcriber_override
    doc = catalog.get_document("transcription") or {}
    name = doc.get("connector")
    if name:
        return load_connector(name)  # type: ignore[return-value]
    return _default_transcriber()


@lru_cache
def _default_transcriber() -> Transcriber:
    from connectors.faster_whisper import FasterWhisperConfig, FasterWhisperConnector

    return FasterWhisperConnector(FasterWhisperConfig())


def load_connector(name: str) -> Connector:
    """Build the configured connector ``name`` from its stored, decrypted config.

    Raises ``LookupError`` when there is no such connector (or its kind is not installed) and
    ``ConfigError`` when its stored config cannot be used (key changed, schema changed)."""
    from pydantic import ValidationError

    from connectors.base import ConfigError
    from connectors.configured import load
    from connectors.secrets import SecretsError

    try:
        return load(get_catalog(), name)
    except SecretsError as e:
        raise ConfigError(str(e)) from None
    except ValidationError as e:
        raise ConfigError(
            f"connector {name}: stored config no longer valid: {e.error_count()} error(s)"
        ) from None
