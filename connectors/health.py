"""Connector health, read from the delivery log: last success, last error (classified), a rolling
success rate, and one state a person can act on.

States:

* ``unused`` — no delivery has settled yet;
* ``ok`` — the latest settled delivery succeeded;
* ``failing`` — the latest settled delivery failed (rate limit, unreachable, rejected);
* ``needs_reauth`` — the latest failure is an authentication failure, nothing succeeded after it
  and the connector's credentials have not been changed since: someone has to re-authenticate
  (new token, new secret). Re-applying the connector with new credentials clears it.

Error classes come from the stable code each delivery's error starts with (``invalid_auth: …``,
``cannot_connect: HTTP 429 …``): ``auth``, ``rate_limit``, ``unreachable``, ``rejected``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from catalog.connector_configs import StoredConnector
from catalog.connector_health import last_success_at, recent_settled
from catalog.models import DeliveryStatus
from catalog.repository import Catalog

log = logging.getLogger(__name__)
WINDOW = 50
STATES = ("unused", "ok", "failing", "needs_reauth")


def classify(error: str) -> str:
    """The error class of a delivery error text ('' for no error)."""
    if not error:
        return ""
    code = error.split(":", 1)[0].strip()
    if code == "invalid_auth":
        return "auth"
    if code == "cannot_connect":
        return "rate_limit" if "HTTP 429" in error else "unreachable"
    return "rejected"  # rejected, invalid_config, verification_failed, unknown


@dataclass(frozen=True)
class Health:
    state: str
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str = ""
    last_error_class: str = ""
    success_rate: float | None = None  # over the last ``settled`` deliveries
    settled: int = 0

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("last_success_at", "last_error_at"):
            out[k] = out[k].isoformat() if out[k] else None
        return out

    @property
    def label(self) -> str:
        """One short line for lists and tables."""
        if self.state == "unused":
            return "no deliveries yet"
        rate = f"{self.success_rate:.0%} of last {self.settled}" if self.settled else ""
        if self.state == "ok":
            return f"ok ({rate})"
        if self.state == "needs_reauth":
            return f"needs re-authentication ({rate})"
        return f"failing: {self.last_error_class} ({rate})"


def health_of(catalog: Catalog, stored: StoredConnector, window: int = WINDOW) -> Health:
    recent = recent_settled(catalog, stored.name, window)
    if not recent:
        return Health(state="unused", last_success_at=last_success_at(catalog, stored.name))
    ok = sum(1 for d in recent if d.status is DeliveryStatus.succeeded)
    failures = [d for d in recent if d.status is DeliveryStatus.failed]
    last_fail = failures[0] if failures else None
    latest = recent[0]
    success_at = last_success_at(catalog, stored.name)
    state = "ok" if latest.status is DeliveryStatus.succeeded else "failing"
    if (
        state == "failing"
        and last_fail is not None
        and classify(last_fail.error) == "auth"
        and stored.updated_at <= last_fail.updated_at
    ):
        state = "needs_reauth"
    return Health(
        state=state,
        last_success_at=success_at,
        last_error_at=last_fail.updated_at if last_fail else None,
        last_error=last_fail.error[:300] if last_fail else "",
        last_error_class=classify(last_fail.error) if last_fail else "",
        success_rate=ok / len(recent),
        settled=len(recent),
    )


def health_all(catalog: Catalog, window: int = WINDOW) -> dict[str, Health]:
    from catalog.connector_configs import list_connectors

    return {s.name: health_of(catalog, s, window) for s in list_connectors(catalog)}


# ---------------------------------------------------------------- tell an admin, once


def reauth_alert_key(stored: StoredConnector) -> str:
    """One alert per connector per configuration: re-applying it (new credentials) re-arms."""
    return f"health:{stored.name}:needs_reauth:{stored.updated_at.isoformat()}"


async def alert_needs_reauth(
    catalog: Catalog, name: str, error: str, build: Callable[[StoredConnector], Any]
) -> str | None:
    """Tell the ``RECFLOW_HEALTH_ALERT_CONNECTOR`` that ``name`` needs re-authentication, once
    per connector configuration (the alert is a delivery with its own idempotency key, so every
    worker sees it was sent). Never raises; returns the alert's delivery status, or None when
    no alert was due. ``build`` turns a stored connector into a live one (the caller's, so this
    module does not import ``connectors.configured``, which wraps connectors with it)."""
    from catalog.connector_configs import get_connector
    from catalog.models import Delivery
    from connectors.base import Connector, Notification, Notifier

    admin = catalog.settings.health_alert_connector
    stored = get_connector(catalog, name)
    if not admin or stored is None or admin == name:
        return None
    key = reauth_alert_key(stored)
    previous = catalog.get_delivery(key)
    if previous is not None and previous.status is DeliveryStatus.succeeded:
        return None
    delivery = Delivery(
        subject_kind="connector",
        subject_id=name[:36],
        connector=admin,
        action="health_alert",
        idempotency_key=key,
        attempt=(previous.attempt + 1) if previous else 1,
    )
    try:
        target = get_connector(catalog, admin)
        if target is None:
            raise LookupError(f"no connector named {admin!r}")
        live: Connector = build(target)
        if "notify" not in type(live).capabilities or not isinstance(live, Notifier):
            raise LookupError(f"connector {admin!r} cannot notify")
        message = Notification(
            title=f"recflow: connector {name} needs re-authentication",
            text=(
                f"Deliveries through {name} ({stored.kind}) are refused as unauthenticated:\n"
                f"{error[:300]}\n\nEnter new credentials for {name} (portal: Connectors, or "
                "`recflow config apply`). You are told once until the connector is re-applied."
            ),
            severity="warning",
            labels=["recflow", "health"],
            data={"event": "connector.needs_reauth", "connector": name, "kind": stored.kind},
        )
        try:
            ext = await live.notify(message, idempotency_key=key)
        finally:
            await live.aclose()
        catalog.record_delivery(
            delivery.model_copy(update={"status": DeliveryStatus.succeeded, "external_id": ext})
        )
        return DeliveryStatus.succeeded.value
    except Exception as e:  # the alert path must never break the delivery that triggered it
        log.warning("health alert for %s via %s failed: %s", name, admin, e)
        catalog.record_delivery(
            delivery.model_copy(
                update={"status": DeliveryStatus.failed, "error": f"{type(e).__name__}: {e}"[:500]}
            )
        )
        return DeliveryStatus.failed.value


def watched(connector: Any, catalog: Catalog, build: Callable[[StoredConnector], Any]) -> Any:
    """``connector`` whose capability calls, when refused as unauthenticated, alert an admin
    (once, see :func:`alert_needs_reauth`) before the error goes on to the delivery loop."""
    from connectors.base import AuthError
    from connectors.ratelimit import capability_methods

    def wrap(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except AuthError as e:
                await alert_needs_reauth(catalog, connector.name, f"{e.code}: {e}", build)
                raise

        return call

    for meth in capability_methods(type(connector)):
        original = getattr(connector, meth, None)
        if original is not None:
            setattr(connector, meth, wrap(original))
    return connector
