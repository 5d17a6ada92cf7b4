"""Zendesk Support: a ticket per call, requested by the end user found (or created) by phone.

Spoken with the shared JSON-over-HTTP helper against the documented Support API v2 (zenpy, the
most-used wrapper, hard-wires ``https://{subdomain}.{domain}`` URLs, which neither a proxy nor a
loopback test server can stand in for):

* dedup — ``GET /api/v2/tickets.json?external_id=<key>``: the ticket carries the idempotency key as
  its ``external_id``, so a retry finds the ticket it made;
* requester — ``GET /api/v2/users/search.json?query=<number>``, then an exact E.164 comparison of
  ``phone``; no match → ``POST /api/v2/users.json`` (an end user with that phone);
* ticket — ``POST /api/v2/tickets.json`` with subject, an internal (private) first comment holding
  the transcript excerpt and link, tags, ``external_id``.

Auth: ``{email}/token:{api_token}`` basic auth, or an OAuth bearer token.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import (
    CallActivity,
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorError,
)
from connectors.phone import e164
from connectors.transport import request_json

_SUBJECT_MAX = 255


class ZendeskConfig(ConnectorConfig):
    url: str = Field(description="Your Zendesk URL, e.g. https://acme.zendesk.com")
    email: str = Field("", description="Agent email for API-token auth")
    api_token: SecretStr | None = Field(None, description="API token (with email)")
    oauth_token: SecretStr | None = Field(None, description="OAuth access token instead")
    tags: list[str] = Field(default_factory=lambda: ["recflow", "call"], description="Ticket tags")
    public_comment: bool = Field(False, description="Make the first comment public")
    default_region: str = Field("US", description="Region for numbers without a country code")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("url must start with https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _auth(self) -> ZendeskConfig:
        if self.oauth_token is None and not (self.email and self.api_token):
            raise ValueError("set email + api_token, or oauth_token")
        return self


def ticket_body(
    call: CallActivity, requester_id: int | None, key: str, config: ZendeskConfig
) -> dict[str, Any]:
    """The create-ticket body (pure; tested)."""
    ticket: dict[str, Any] = {
        "subject": " ".join(call.subject.split())[:_SUBJECT_MAX],
        "comment": {"body": call.body or call.subject, "public": config.public_comment},
        "external_id": key,
        "tags": list(dict.fromkeys(t.replace(" ", "_") for t in config.tags if t)),
    }
    if requester_id is not None:
        ticket["requester_id"] = requester_id
    return {"ticket": ticket}


class ZendeskConnector(Connector):
    kind: ClassVar[str] = "zendesk"
    display_name: ClassVar[str] = "Zendesk"
    config_model: ClassVar[type[ConnectorConfig]] = ZendeskConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"log_call"})
    # Support API: 200 requests/min on the smallest plan; ~4 per call
    default_rate_limit: ClassVar[tuple[float, int] | None] = (50.0, 10)
    config: ZendeskConfig

    async def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        c = self.config
        headers: dict[str, str] = {}
        auth = None
        if c.oauth_token is not None:
            headers["Authorization"] = f"Bearer {c.oauth_token.get_secret_value()}"
        else:
            assert c.api_token is not None
            auth = (f"{c.email}/token", c.api_token.get_secret_value())
        return await request_json(
            method,
            f"{c.url}/api/v2{path}",
            headers=headers,
            auth=auth,
            what="zendesk",
            timeout=c.timeout,
            **kwargs,
        )

    async def find_or_create_requester(self, number: str, name: str) -> int | None:
        target = e164(number, self.config.default_region)
        if not target:
            return None
        found = await self._api("GET", "/users/search.json", params={"query": target})
        for user in (found or {}).get("users") or []:
            if e164(str(user.get("phone") or ""), self.config.default_region) == target:
                return int(user["id"])
        made = await self._api(
            "POST",
            "/users.json",
            json={"user": {"name": name or target, "phone": target, "role": "end-user"}},
        )
        return int(made["user"]["id"])

    async def log_call(self, call: CallActivity, *, idempotency_key: str) -> str:
        found = await self._api("GET", "/tickets.json", params={"external_id": idempotency_key})
        tickets = (found or {}).get("tickets") or []
        if tickets:
            return str(tickets[0]["id"])
        name = call.from_name if call.direction != "outbound" else call.to_name
        requester = await self.find_or_create_requester(call.external_number, name)
        made = await self._api(
            "POST", "/tickets.json", json=ticket_body(call, requester, idempotency_key, self.config)
        )
        return str(made["ticket"]["id"])

    async def check(self) -> CheckResult:
        try:
            me = await self._api("GET", "/users/me.json")
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        user = (me or {}).get("user") or {}
        if not user.get("id"):  # Zendesk answers 200 with an anonymous user for bad auth
            return CheckResult(ok=False, code="invalid_auth", message="zendesk: not signed in")
        return CheckResult(ok=True, message=f"authenticated as {user.get('name', '?')}")
