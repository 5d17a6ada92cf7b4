"""Per-process objects the flows share: the catalog, the worker identity, the transcriber,
configured connectors.

Flows run inside long-lived worker processes, so these are built once per process."""

from __future__ import annotations

import os
import socket
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catalog.repository import Catalog
    from connectors.base import Connector, Transcriber

_worker_id: str | None = None
_transcriber_override: Transcriber | None = None
_catalog: Catalog | None = None


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
    connector with the transcribe capability; without it, the built-in faster-whisper with the
    section's settings (model, language, beam size, device, …; defaults: bundled tiny.en)."""
    if _transcriber_override is not None:
        return _transcriber_override
    from services.transcription import builtin_engine, current_settings

    settings = current_settings(catalog)
    if settings.connector:
        return load_connector(settings.connector)  # type: ignore[return-value]
    return builtin_engine(settings)


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
