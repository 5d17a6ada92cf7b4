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

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from catalog.connector_configs import StoredConnector
from catalog.connector_health import last_success_at, recent_settled
from catalog.models import DeliveryStatus
from catalog.repository import Catalog

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
