"""The connector contract.

Every connector is a subclass of :class:`Connector` with a typed pydantic config; what it can do
is declared by the capability protocols it implements (transcribe, notify, log a call, append a
row, store an object). Vendor errors are mapped at the boundary to the four error classes below,
so retry policy lives once in shared code instead of in every connector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr

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

    rate_limit_per_minute: float | None = Field(
        None,
        ge=0,
        description="Calls per minute across all workers; empty = the vendor's documented "
        "default, 0 = no limit",
    )
    rate_limit_burst: int | None = Field(
        None, ge=1, description="Calls allowed at once before the limit applies; empty = default"
    )


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
    # (calls per minute, burst) the vendor's documented limits allow; None = no proactive limit
    default_rate_limit: ClassVar[tuple[float, int] | None] = None
    # modules from an optional extra (pyproject) this connector needs, and that extra's name:
    # without them the registry lists the kind as not loadable, naming what to install
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = ""

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


# ---------------------------------------------------------------- messages shared by connectors
#
# The shared code (flows/deliveries.py, templates/) turns a recording into one of these models;
# connectors only map them onto their vendor's wire format. That keeps templating, truncation and
# redaction in one place instead of eight.


class NotificationField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="Short label, e.g. 'From'")
    value: str = Field(description="Value shown next to the label")


class Notification(BaseModel):
    """A message for people (Slack, email, Teams, Jira) or machines (webhook ``data``)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="One line: Slack header, email subject, Jira summary")
    text: str = Field(description="Plain-text body; the fallback every channel can show")
    markdown: str | None = Field(None, description="Markdown body (Slack mrkdwn, Teams, Jira)")
    html: str | None = Field(None, description="HTML body for email; rendered autoescaped")
    fields: list[NotificationField] = Field(default_factory=list, description="Key facts")
    link_url: str | None = Field(None, description="Link back to the call in the portal")
    link_text: str = Field("Open in recflow", description="Text of the link button")
    severity: str = Field("info", description="info, warning or critical")
    labels: list[str] = Field(default_factory=list, description="Tags/labels (Jira labels etc.)")
    data: dict[str, Any] = Field(
        default_factory=dict, description="Structured context for machine consumers (webhook)"
    )


class CallActivity(BaseModel):
    """One processed call as a CRM activity (Salesforce Task, HubSpot call) or a sheet row."""

    model_config = ConfigDict(extra="forbid")

    recording_id: str = Field(description="recflow recording id")
    call_id: str = Field("", description="SIP Call-ID")
    direction: str = Field("unknown", description="inbound, outbound, internal or unknown")
    from_number: str = Field("", description="Caller number as signalled")
    from_name: str = Field("", description="Caller display name")
    to_number: str = Field("", description="Callee number as signalled")
    to_name: str = Field("", description="Callee display name")
    external_number: str = Field(
        "", description="The other party's number (caller for inbound, callee for outbound)"
    )
    started_at: datetime = Field(description="Call start (UTC)")
    ended_at: datetime | None = Field(None, description="Call end (UTC)")
    duration_seconds: float = Field(0.0, description="Duration in seconds")
    subject: str = Field(description="One-line title from the crm_subject template")
    body: str = Field(description="Notes from the crm_body template (transcript excerpt, link)")
    recording_url: str = Field("", description="Link to the call in the portal")
    transcript_excerpt: str = Field("", description="First part of the transcript")
    row: dict[str, str] = Field(
        default_factory=dict, description="Flat column → value view, for row appenders"
    )


# ---------------------------------------------------------------- capability protocols
#
# Every protocol takes an ``idempotency_key``: the same key must never create a second external
# record (CRMs upsert on it; notifiers use it as Message-ID / Idempotency-Key where the vendor
# has one; the delivery ledger covers the rest). Each returns the vendor's id of what it made.

CAPABILITIES = ("transcribe", "notify", "log_call", "append_row", "store_object", "send_email")


@runtime_checkable
class Notifier(Protocol):
    """Capability ``notify``: tell people (or a machine) about something."""

    async def notify(self, message: Notification, *, idempotency_key: str) -> str: ...


@runtime_checkable
class CallLogger(Protocol):
    """Capability ``log_call``: record the call as an activity on the matching CRM contact."""

    async def log_call(self, call: CallActivity, *, idempotency_key: str) -> str: ...


@runtime_checkable
class RowAppender(Protocol):
    """Capability ``append_row``: one row per call in a table (a spreadsheet)."""

    async def append_row(self, row: dict[str, str], *, idempotency_key: str) -> str: ...


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    checksum: str = ""  # sha256 hex where the store keeps one, else the vendor's etag


@runtime_checkable
class ObjectStore(Protocol):
    """Capability ``store_object``: archive destinations (S3, Azure Blob, SFTP, FTP)."""

    async def put_object(
        self,
        key: str,
        source: Path,
        *,
        content_type: str = "",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store ``source`` under ``key``; ``metadata`` travels as the store's user metadata
        where it has any (S3 ``x-amz-meta-*``, Azure blob metadata), else is ignored."""
        ...

    async def head_object(self, key: str) -> ObjectInfo | None: ...

    async def delete_object(self, key: str) -> None: ...


@runtime_checkable
class EmailSender(Protocol):
    """Capability ``send_email``: send a fully built message (the SMS-to-email layout builds
    its own headers and body); returns the Message-ID."""

    async def send_message(self, msg: EmailMessage) -> str: ...


CAPABILITY_PROTOCOLS: dict[str, type] = {
    "transcribe": Transcriber,
    "notify": Notifier,
    "log_call": CallLogger,
    "append_row": RowAppender,
    "store_object": ObjectStore,
    "send_email": EmailSender,
}


def secret_fields(model: type[BaseModel]) -> list[str]:
    """Names of the config fields that hold secrets (typed ``SecretStr``)."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if ann is SecretStr or SecretStr in getattr(ann, "__args__", ()):
            out.append(name)
    return out


# ---------------------------------------------------------------- error mapping (one table)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta form or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for_status(
    status: int, message: str, *, retry_after: str | float | None = None
) -> ConnectorError:
    """The one HTTP status → error-class table every connector uses.

    401/403 → auth; 408/425/429/5xx → retriable (with the server's Retry-After); 400/404/409/422
    and other 4xx → permanent (sending the same request again cannot succeed).
    """
    text = f"HTTP {status}: {message}"[:500]
    if status in (401, 403):
        return AuthError(text)
    if status in (408, 425, 429) or status >= 500:
        ra = retry_after if isinstance(retry_after, float | int) else parse_retry_after(retry_after)
        return RetriableError(text, retry_after=ra)
    return PermanentError(text)


def error_for_exception(exc: BaseException) -> ConnectorError:
    """Transport failures (timeouts, refused connections) are retriable; the rest permanent."""
    import socket
    import ssl

    if isinstance(exc, ConnectorError):
        return exc
    name = type(exc).__name__
    transport = (TimeoutError, ConnectionError, socket.timeout, socket.gaierror)
    if isinstance(exc, ssl.SSLError):
        return ConfigError(f"TLS failed: {exc}"[:500])
    try:
        import httpx

        transport = (*transport, httpx.TransportError)
    except ImportError:  # pragma: no cover
        pass
    try:
        import requests

        if isinstance(exc, requests.exceptions.SSLError):
            return ConfigError(f"TLS failed: {exc}"[:500])
        transport = (*transport, requests.ConnectionError, requests.Timeout)
    except ImportError:  # pragma: no cover
        pass
    try:
        import urllib3.exceptions as u3

        transport = (
            *transport,
            u3.TimeoutError,
            u3.ProtocolError,
            u3.NewConnectionError,
            u3.MaxRetryError,
        )
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, transport):
        return RetriableError(f"{name}: {exc}"[:500])
    return PermanentError(f"{name}: {exc}"[:500])
