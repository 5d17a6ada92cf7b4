"""Connector deliveries: every connector call retried by the one retry policy
(``services.retry``) and logged attempt by attempt in the catalog's delivery log.

Rules (docs/connectors.md, "Delivery semantics"):

- One delivery = one external effect, named by its idempotency key. A delivery that succeeded
  is never sent again (re-runs, retries, backfills find it in the log and skip).
- Only ``RetriableError`` (429, 5xx, timeouts, refused connections, DNS failures) is retried, up
  to ``RECFLOW_RETRY_MAX_ATTEMPTS`` attempts (default 4) within an overall deadline, waiting
  exactly the server's ``Retry-After`` when it gave one, else 2, 4, 8 … s plus jitter
  (``RECFLOW_RETRY_BACKOFF_SECONDS``), capped at 60 s. The loop is ours, not Prefect's
  ``retries=``, because Prefect's delay is fixed per task while ``Retry-After`` varies per
  response.
- Every attempt updates the delivery row (attempt number, status, error), so
  ``recflow deliveries list`` shows what is going on while it happens.
- One failing connector never stops the others: all every-call deliveries run concurrently and
  each ends on its own; after all have ended, :func:`deliver_every_call` raises
  :class:`DeliveriesFailed` so the flow run ends Failed; ``recflow deliveries retry ID`` (or
  re-running the recording) sends only what has not succeeded.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import SecretStr, ValidationError

from catalog.connector_configs import get_connector, get_payload, put_payload
from catalog.models import Delivery, DeliveryStatus, Recording, Transcript, new_id, utcnow
from catalog.repository import Catalog
from catalog.settings import get_settings
from connectors import registry
from connectors.base import (
    CAPABILITY_PROTOCOLS,
    CallActivity,
    ConfigError,
    Connector,
    ConnectorError,
    Notification,
    NotificationField,
    secret_fields,
)
from connectors.configured import ConnectorNotFound, build, every_call, load
from connectors.secrets import SecretsError
from services.retry import RetryPolicy, call_with_retries, is_transient
from services.runtime import get_catalog, load_connector

log = logging.getLogger("recflow.deliveries")

EVERY_CALL = "every_call"
EXCERPT_CHARS = 600
# What an every_call delivery does, by capability, in order of preference.
EVERY_CALL_CAPABILITIES = ("log_call", "append_row", "notify")


class DeliveriesFailed(Exception):
    """Raised after every every-call delivery has ended, when at least one failed."""

    def __init__(self, deliveries: list[Delivery]) -> None:
        failed = [d for d in deliveries if d.status is DeliveryStatus.failed]
        names = ", ".join(f"{d.connector} ({d.error[:120]})" for d in failed)
        super().__init__(f"{len(failed)} of {len(deliveries)} deliveries failed: {names}")
        self.deliveries = deliveries
        self.failed = failed


# ---------------------------------------------------------------- catalog access


def _catalog() -> Catalog:
    return get_catalog()


# ---------------------------------------------------------------- building payloads


def recording_url(recording_id: str) -> str:
    base = get_settings().public_url or "http://127.0.0.1:8080"
    return f"{base.rstrip('/')}/recordings/{recording_id}"


def excerpt_of(transcript: Transcript | None, limit: int = EXCERPT_CHARS) -> str:
    """Speaker-labelled start of the transcript, cut at a word boundary."""
    if transcript is None:
        return ""
    out: list[str] = []
    size = 0
    for seg in transcript.segments:
        text = seg.text.strip()
        if not text:
            continue
        line = f"{seg.speaker.value.capitalize()}: {text}"
        if size + len(line) > limit:
            room = limit - size
            if room > 20:
                out.append(line[:room].rsplit(" ", 1)[0] + " …")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def call_context(
    recording: Recording, transcript: Transcript | None, account: str = "recflow"
) -> Any:
    from templates.render import CallContext, _duration

    return CallContext(
        recording=recording.model_dump(mode="json"),
        transcript=transcript.text if transcript else "",
        excerpt=excerpt_of(transcript),
        segments=[
            {"speaker": s.speaker.value, "start": s.start, "end": s.end, "text": s.text}
            for s in (transcript.segments if transcript else [])
        ],
        recording_url=recording_url(recording.id),
        account=account,
        duration=_duration(recording.duration_seconds),
    )


def every_call_notification(ctx: Any) -> Notification:
    from templates.render import render

    rec = ctx.recording
    return Notification(
        title=render("connectors/every_call_title.txt.j2", ctx),
        text=render("connectors/every_call.txt.j2", ctx),
        markdown=render("connectors/every_call.md.j2", ctx),
        html=render("connectors/every_call.html.j2", ctx),
        fields=[
            NotificationField(label="From", value=rec.get("from_number") or "unknown"),
            NotificationField(label="To", value=rec.get("to_number") or "unknown"),
            NotificationField(label="Direction", value=str(rec.get("direction", ""))),
            NotificationField(label="Duration", value=ctx.duration),
        ],
        link_url=ctx.recording_url,
        labels=["recflow", "call"],
        data={
            "event": "call.processed",
            "recording": rec,
            "transcript_excerpt": ctx.excerpt,
            "recording_url": ctx.recording_url,
        },
    )


def call_activity(recording: Recording, ctx: Any) -> CallActivity:
    from templates.render import render

    external = (
        recording.to_number if recording.direction.value == "outbound" else recording.from_number
    )
    row = {
        "recording_id": recording.id,
        "call_id": recording.call_id,
        "started_at": recording.started_at.isoformat(),
        "ended_at": recording.ended_at.isoformat() if recording.ended_at else "",
        "direction": recording.direction.value,
        "from_number": recording.from_number,
        "from_name": recording.from_name,
        "to_number": recording.to_number,
        "to_name": recording.to_name,
        "duration_seconds": f"{recording.duration_seconds:.1f}",
        "recording_url": ctx.recording_url,
        "transcript_excerpt": ctx.excerpt,
    }
    subject = render("connectors/crm_subject.txt.j2", ctx)
    row["subject"] = subject
    return CallActivity(
        recording_id=recording.id,
        call_id=recording.call_id,
        direction=recording.direction.value,
        from_number=recording.from_number,
        from_name=recording.from_name,
        to_number=recording.to_number,
        to_name=recording.to_name,
        external_number=external,
        started_at=recording.started_at,
        ended_at=recording.ended_at,
        duration_seconds=recording.duration_seconds,
        subject=subject,
        body=render("connectors/crm_body.txt.j2", ctx),
        recording_url=ctx.recording_url,
        transcript_excerpt=ctx.excerpt,
        row=row,
    )


def every_call_payload(
    connector: Connector, recording: Recording, transcript: Transcript | None, account: str
) -> tuple[str, dict[str, Any]]:
    """(capability, payload) of the every-call delivery to ``connector``."""
    ctx = call_context(recording, transcript, account)
    caps = type(connector).capabilities
    for cap in EVERY_CALL_CAPABILITIES:
        if cap in caps:
            if cap == "notify":
                return cap, every_call_notification(ctx).model_dump(mode="json")
            activity = call_activity(recording, ctx)
            if cap == "log_call":
                return cap, activity.model_dump(mode="json")
            return cap, {"row": activity.row}
    raise ConfigError(
        f"connector {connector.name} ({connector.kind}) cannot take every_call deliveries "
        f"(capabilities: {', '.join(sorted(caps)) or 'none'})"
    )


async def _invoke(connector: Connector, capability: str, payload: dict[str, Any], key: str) -> str:
    proto = CAPABILITY_PROTOCOLS.get(capability)
    if (
        capability not in type(connector).capabilities
        or proto is None
        or not isinstance(connector, proto)
    ):
        raise ConfigError(f"connector {connector.name} ({connector.kind}) cannot {capability}")
    if capability == "notify":
        return await connector.notify(Notification.model_validate(payload), idempotency_key=key)  # type: ignore[attr-defined, no-any-return]
    if capability == "log_call":
        return await connector.log_call(CallActivity.model_validate(payload), idempotency_key=key)  # type: ignore[attr-defined, no-any-return]
    if capability == "append_row":
        return await connector.append_row(dict(payload["row"]), idempotency_key=key)  # type: ignore[attr-defined, no-any-return]
    raise ConfigError(f"capability {capability} is not deliverable")


# ---------------------------------------------------------------- the delivery loop


def _secret_values(connector: Connector) -> list[str]:
    out = []
    for name in secret_fields(type(connector.config)):
        value = getattr(connector.config, name, None)
        values = value.values() if isinstance(value, dict) else [value]
        for v in values:
            if isinstance(v, SecretStr) and len(v.get_secret_value()) >= 4:
                out.append(v.get_secret_value())
    return out


def redact(text: str, secrets: list[str]) -> str:
    """Belt and braces: a vendor error that echoes a credential never reaches the log."""
    for s in secrets:
        text = text.replace(s, "**********")
    return text


async def run_delivery(
    catalog: Catalog,
    connector_name: str,
    *,
    subject_kind: str,
    subject_id: str,
    action: str,
    idempotency_key: str,
    capability: str | None = None,
    payload: dict[str, Any] | None = None,
    recording: Recording | None = None,
    transcript: Transcript | None = None,
    policy: RetryPolicy | None = None,
    force: bool = False,
) -> Delivery:
    """Deliver once (with retries) and log every attempt. Never raises for connector errors.

    Give ``capability`` + ``payload``, or (every_call) ``recording`` + ``transcript`` to build
    them from the connector's capabilities. ``force`` re-sends even a succeeded delivery
    (never used by flows; an operator's explicit choice)."""
    policy = policy or RetryPolicy.from_env()
    existing = catalog.get_delivery(idempotency_key)
    if existing is not None and existing.status is DeliveryStatus.succeeded and not force:
        return existing
    attempt = existing.attempt if existing is not None else 0
    delivery = Delivery(
        id=existing.id if existing else new_id(),
        subject_kind=subject_kind,
        subject_id=subject_id,
        connector=connector_name,
        action=action,
        idempotency_key=idempotency_key,
        attempt=attempt,
        status=DeliveryStatus.pending,
        created_at=existing.created_at if existing else utcnow(),
    )

    def finish(status: DeliveryStatus, *, error: str = "", external_id: str = "") -> Delivery:
        nonlocal delivery
        delivery = delivery.model_copy(
            update={
                "status": status,
                "error": error,
                "external_id": external_id,
                "updated_at": utcnow(),
            }
        )
        return catalog.record_delivery(delivery)

    try:
        connector = load(catalog, connector_name)
    except (ConnectorNotFound, KeyError) as e:
        delivery.attempt = attempt + 1
        return finish(DeliveryStatus.failed, error=f"invalid_config: {e.args[0] if e.args else e}")
    except (SecretsError, ValidationError) as e:
        delivery.attempt = attempt + 1
        msg = (
            str(e)
            if isinstance(e, SecretsError)
            else f"stored config invalid ({e.error_count()} errors)"
        )
        return finish(DeliveryStatus.failed, error=f"invalid_config: {msg}")
    secrets = _secret_values(connector)
    try:
        if capability is None or payload is None:
            if recording is None:
                raise ConfigError("nothing to deliver: no payload and no recording")
            capability, payload = every_call_payload(
                connector, recording, transcript, catalog.account().name
            )
        put_payload(catalog, idempotency_key, capability, payload)
    except ConnectorError as e:
        delivery.attempt = attempt + 1
        return finish(DeliveryStatus.failed, error=f"{e.code}: {redact(str(e), secrets)}")
    except Exception as e:  # a template that does not render is a configuration problem
        delivery.attempt = attempt + 1
        return finish(
            DeliveryStatus.failed,
            error=f"invalid_config: {type(e).__name__}: {redact(str(e), secrets)}"[:2000],
        )

    def attempt_starts(n: int) -> None:
        delivery.attempt = attempt + n
        finish(DeliveryStatus.pending, error=delivery.error)

    def attempt_failed(_n: int, err: ConnectorError) -> None:
        delivery.error = f"{err.code}: {redact(str(err), secrets)}"[:2000]
        finish(DeliveryStatus.pending, error=delivery.error)

    try:
        external_id = await call_with_retries(
            policy,
            lambda: _invoke(connector, capability, payload, idempotency_key),
            on_attempt=attempt_starts,
            on_failure=attempt_failed,
        )
    except ConnectorError:
        log.warning(
            "delivery %s via %s failed: %s", idempotency_key, connector_name, delivery.error
        )
        return finish(DeliveryStatus.failed, error=delivery.error)
    finally:
        await connector.aclose()
    return finish(DeliveryStatus.succeeded, external_id=str(external_id)[:255])


async def _deliver(**kwargs: Any) -> Delivery:
    name = kwargs.pop("connector_name")
    return await run_delivery(_catalog(), name, **kwargs)


def every_call_key(recording_id: str, connector_name: str) -> str:
    return f"{recording_id}:{connector_name}:{EVERY_CALL}"


async def deliver_every_call(recording: Recording, transcript: Transcript | None) -> list[Delivery]:
    """Deliver the processed call to every enabled ``on: every_call`` connector, concurrently.

    Returns the deliveries when all succeeded; raises :class:`DeliveriesFailed` (carrying all
    of them) after every delivery has ended when any failed."""
    names = [s.name for s in every_call(_catalog())]
    if not names:
        return []
    results = await asyncio.gather(
        *[
            _deliver(
                connector_name=name,
                subject_kind="recording",
                subject_id=recording.id,
                action=EVERY_CALL,
                idempotency_key=every_call_key(recording.id, name),
                recording=recording,
                transcript=transcript,
            )
            for name in names
        ],
        return_exceptions=True,
    )
    for res in results:
        if isinstance(res, Exception) and is_transient(res):
            # the catalog (the delivery log) went away under it: not the connector's failure
            # nor the call's; the caller hands the recording back (flows.dispatch.fail)
            raise res
    deliveries: list[Delivery] = []
    for name, res in zip(names, results, strict=True):
        if isinstance(res, BaseException):
            # a bug of ours (a transient catalog failure was raised above); record it as failed
            log.error("every_call delivery via %s crashed: %r", name, res)
            deliveries.append(
                Delivery(
                    subject_id=recording.id,
                    connector=name,
                    action=EVERY_CALL,
                    idempotency_key=every_call_key(recording.id, name),
                    status=DeliveryStatus.failed,
                    error=f"{type(res).__name__}: {res}"[:2000],
                )
            )
        else:
            deliveries.append(res)
    if any(d.status is DeliveryStatus.failed for d in deliveries):
        raise DeliveriesFailed(deliveries)
    return deliveries


async def notify_connector(
    connector_name: str,
    *,
    subject_kind: str,
    subject_id: str,
    action: str,
    message: Notification,
    idempotency_key: str,
) -> Delivery:
    """Send ``message`` through the configured connector ``connector_name`` (keyword rules,
    other features). Returns the delivery; a failure is in its status, never raised."""
    return await _deliver(
        connector_name=connector_name,
        subject_kind=subject_kind,
        subject_id=subject_id,
        action=action,
        idempotency_key=idempotency_key,
        capability="notify",
        payload=message.model_dump(mode="json"),
    )


async def retry_delivery(
    catalog: Catalog, key_or_id: str, *, policy: RetryPolicy | None = None
) -> Delivery:
    """Send a logged delivery again (``recflow deliveries retry``). A succeeded one is left
    alone; the stored payload is resent, or, for every-call deliveries without one, rebuilt."""
    d = catalog.get_delivery(key_or_id)
    if d is None:
        raise LookupError(f"no delivery {key_or_id!r}")
    if d.status is DeliveryStatus.succeeded:
        return d
    stored = get_payload(catalog, d.idempotency_key)
    kwargs: dict[str, Any] = {}
    if stored is not None:
        kwargs = {"capability": stored[0], "payload": stored[1]}
    elif d.action == EVERY_CALL and d.subject_kind == "recording":
        rec = catalog.get_recording(d.subject_id)
        if rec is None:
            raise LookupError(f"recording {d.subject_id} is gone")
        kwargs = {"recording": rec, "transcript": catalog.get_transcript(rec.id)}
    else:
        raise LookupError(f"delivery {d.id}: nothing stored to resend for action {d.action!r}")
    return await run_delivery(
        catalog,
        d.connector,
        subject_kind=d.subject_kind,
        subject_id=d.subject_id,
        action=d.action,
        idempotency_key=d.idempotency_key,
        policy=policy,
        **kwargs,
    )


def connector_exists(catalog: Catalog, name: str) -> bool:
    stored = get_connector(catalog, name)
    return stored is not None and stored.kind in registry.available()


__all__ = [
    "DeliveriesFailed",
    "RetryPolicy",
    "build",
    "deliver_every_call",
    "load_connector",
    "notify_connector",
    "retry_delivery",
    "run_delivery",
]
