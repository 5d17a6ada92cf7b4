"""The connector contract.

Every connector is a subclass of :class:`Connector` with a typed pydantic config; what it can do
is declared by the capability protocols it implements (transcribe, notify, log a call, append a
row, store an object). Vendor errors are mapped at the boundary to the four error classes below,
so retry policy lives once in shared code instead of in every connector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from catalog.models import Recording, Transcript


class ConnectorError(Exception):
    """Base of the mapped errors. ``code`` is stable and shown by the portal's Test button."""

    code: ClassVar[str] = "unknown"
    retriable: ClassVar[bool] = False


class AuthError(ConnectorError):
    code = "invalid_auth"


class ConfigError(ConnectorError):
    code = "invalid_config"


class PermanentError(ConnectorError):
    code = "rejected"


class RetriableError(ConnectorError):
    """429, 5xx, timeouts, connection refused. ``retry_after`` honours the server's hint."""

    code = "cannot_connect"
    retriable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConnectorConfig(BaseModel):
    """Base of every connector config: unknown keys are errors, secrets are ``SecretStr``."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    code: str = "ok"
    message: str = ""


class Connector:
    """What every connector has. Subclasses set the class variables and implement capabilities."""

    kind: ClassVar[str]
    display_name: ClassVar[str]
    config_model: ClassVar[type[ConnectorConfig]]
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        self.config = config
        self.name = name or self.kind

    async def check(self) -> CheckResult:
        return CheckResult(ok=True, message="nothing to check")

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        # config reprs mask SecretStr, so this is safe to log
        return f"<{type(self).__name__} {self.name!r} {self.config!r}>"


@runtime_checkable
class Transcriber(Protocol):
    """Capability ``transcribe``: audio file → per-speaker transcript."""

    async def transcribe(self, recording: Recording, audio: Path) -> Transcript: ...


@dataclass(frozen=True)
class TranscriptionOptions:
    language: str | None = "en"
    channels: Sequence[int] | None = None
    extra: dict[str, Any] | None = None
