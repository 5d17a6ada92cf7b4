"""Freshdesk: a phone-source ticket per call, requested by the contact found (or created) by phone.

Spoken with the shared JSON-over-HTTP helper against the documented API v2 (no maintained Python
SDK exists):

* requester — ``GET /api/v2/contacts?phone=…`` then ``?mobile=…`` (exact match on the stored
  string, so E.164 is tried first, then the number as signalled); no match →
  ``POST /api/v2/contacts`` with name and phone;
* dedup — each ticket carries a tag derived from the idempotency key; the requester's tickets
  (``GET /api/v2/tickets?requester_id=…``, newest first) are read for it before creating. The
  list endpoint is read, not the search API, whose index lags behind a fresh ticket;
* ticket — ``POST /api/v2/tickets`` with ``source`` 3 (Phone), status, priority, HTML description.

Auth: the API key as the basic-auth user, ``X`` as the password.
"""

from __future__ import annotations

import hashlib
import html
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from connectors.base import (
    CallActivity,
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorError,
)
from connectors.phone import e164
from connectors.transport import request_json

SOURCE_PHONE = 3
_SUBJECT_MAX = 255


class FreshdeskConfig(ConnectorConfig):
    url: str = Field(description="Your helpdesk URL, e.g. https://acme.freshdesk.com")
    api_key: SecretStr = Field(description="API key (Profile settings → API key)")
    status: int = Field(2, ge=2, le=5, description="2 open, 3 pending, 4 resolved, 5 closed")
    priority: int = Field(1, ge=1, le=4, description="1 low, 2 medium, 3 high, 4 urgent")
    tags: list[str] = Field(default_factory=lambda: ["recflow", "call"], description="Ticket tags")
    default_region: str = Field("US", description="Region for numbers without a country code")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("url must start with https://")
        return v.rstrip("/")


def dedup_tag(idempotency_key: str) -> str:
    return "recflow-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def description_html(call: CallActivity) -> str:
    """The ticket description: the notes as escaped HTML, line breaks kept, link clickable."""
    body = html.escape(call.body or call.subject).replace("\n", "<br>")
    if call.recording_url:
        url = html.escape(call.recording_url, quote=True)
        body += f'<br><br><a href="{url}">Open in recflow</a>'
    return body


def ticket_body(
    call: CallActivity, requester_id: int, key: str, config: FreshdeskConfig
) -> dict[str, Any]:
    """The create-ticket body (pure; tested)."""
    return {
        "subject": " ".join(call.subject.split())[:_SUBJECT_MAX],
        "description": description_html(call),
        "requester_id": requester_id,
        "source": SOURCE_PHONE,
        "status": config.status,
        "priority": config.priority,
        "tags": list(dict.fromkeys([*config.tags, dedup_tag(key)])),
    }


class FreshdeskConnector(Connector):
    kind: ClassVar[str] = "freshdesk"
    display_name: ClassVar[str] = "Freshdesk"
    config_model: ClassVar[type[ConnectorConfig]] = FreshdeskConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"log_call"})
    # API v2: 200 requests/min on Growth; ~5 per call
    default_rate_limit: ClassVar[tuple[float, int] | None] = (40.0, 10)
    config: FreshdeskConfig

    async def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        return await request_json(
            method,
            f"{self.config.url}/api/v2{path}",
            auth=(self.config.api_key.get_secret_value(), "X"),
            what="freshdesk",
            timeout=self.config.timeout,
            **kwargs,
        )

    async def find_or_create_contact(self, number: str, name: str) -> int:
        region = self.config.default_region
        target = e164(number, region) or number.strip()
        for field in ("phone", "mobile"):
            for value in dict.fromkeys([target, number.strip()]):
                if not value:
                    continue
                found = await self._api("GET", "/contacts", params={field: value})
                for c in found or []:
                    if (e164(str(c.get(field) or ""), region) or c.get(field)) == target:
                        return int(c["id"])
        made = await self._api("POST", "/contacts", json={"name": name or target, "phone": target})
        return int(made["id"])

    async def log_call(self, call: CallActivity, *, idempotency_key: str) -> str:
        number = call.external_number or call.from_number or "unknown"
        name = call.from_name if call.direction != "outbound" else call.to_name
        contact = await self.find_or_create_contact(number, name)
        tag = dedup_tag(idempotency_key)
        tickets = await self._api(
            "GET",
            "/tickets",
            params={
                "requester_id": contact,
                "order_by": "created_at",
                "order_type": "desc",
                "per_page": 100,
            },
        )
        for t in tickets or []:
            if tag in (t.get("tags") or []):
                return str(t["id"])
        made = await self._api(
            "POST", "/tickets", json=ticket_body(call, contact, idempotency_key, self.config)
        )
        return str(made["id"])

    async def check(self) -> CheckResult:
        try:
            me = await self._api("GET", "/agents/me")
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        who = ((me or {}).get("contact") or {}).get("name", "?")
        return CheckResult(ok=True, message=f"authenticated as {who}")
