"""Linear: one issue per message (title, transcript excerpt, facts, link) over Linear's GraphQL API.

Linear has no maintained Python SDK; its API is one GraphQL endpoint (``POST /graphql``), spoken
here with the shared JSON-over-HTTP helper. Personal API keys go in ``Authorization`` as they are,
OAuth access tokens as ``Bearer``.

Dedup: ``issueCreate`` accepts the issue's own UUID, so the id is derived from the idempotency
key; before creating, ``issues(filter: {id: {eq: …}})`` looks it up, and a retry returns the
issue it already made. GraphQL answers errors with HTTP 200 and an ``errors`` list, whose
``extensions.code`` / ``extensions.type`` are mapped like HTTP statuses.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator

from connectors.base import (
    AuthError,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Notification,
    PermanentError,
    RetriableError,
)
from connectors.transport import request_json

_TITLE_MAX = 255

FIND = """query RecflowFind($id: ID!) {
  issues(filter: {id: {eq: $id}}) { nodes { id identifier url } }
}"""
CREATE = """mutation RecflowCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) { success issue { id identifier url } }
}"""
VIEWER = """query RecflowCheck($team: String!) {
  viewer { id name }
  team(id: $team) { id key name }
}"""


class LinearConfig(ConnectorConfig):
    api_key: SecretStr | None = Field(None, description="Personal API key (lin_api_…)")
    access_token: SecretStr | None = Field(None, description="OAuth2 access token instead")
    team_id: str = Field(description="Team UUID the issues are created in")
    label_ids: list[str] = Field(default_factory=list, description="Label UUIDs to add")
    priority: int = Field(0, ge=0, le=4, description="0 none, 1 urgent, 2 high, 3 medium, 4 low")
    api_url: str = Field("https://api.linear.app/graphql", description="GraphQL endpoint")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")

    @model_validator(mode="after")
    def _auth(self) -> LinearConfig:
        if (self.api_key is None) == (self.access_token is None):
            raise ValueError("set api_key or access_token (one of them)")
        return self


def issue_id(idempotency_key: str) -> str:
    """A UUID (v4 layout, as Linear requires) derived from the key: same key, same issue."""
    raw = bytearray(hashlib.sha256(idempotency_key.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def issue_input(message: Notification, config: LinearConfig, key: str) -> dict[str, Any]:
    """The IssueCreateInput (pure; tested)."""
    desc = message.markdown or message.text
    if message.fields:
        desc += "\n\n" + "\n".join(f"**{f.label}:** {f.value}" for f in message.fields)
    if message.link_url:
        desc += f"\n\n[{message.link_text}]({message.link_url})"
    data: dict[str, Any] = {
        "id": issue_id(key),
        "teamId": config.team_id,
        "title": " ".join(message.title.split())[:_TITLE_MAX],
        "description": desc,
    }
    if config.priority:
        data["priority"] = config.priority
    if config.label_ids:
        data["labelIds"] = list(config.label_ids)
    return data


def graphql_error(errors: list[dict[str, Any]]) -> ConnectorError:
    first = errors[0] if errors else {}
    ext = first.get("extensions") or {}
    code = str(ext.get("code", "")).upper()
    kind = str(ext.get("type", "")).lower()
    msg = f"linear: {ext.get('userPresentableMessage') or first.get('message', 'error')}"[:500]
    if code in ("AUTHENTICATION_ERROR", "FORBIDDEN") or "authentication" in kind:
        return AuthError(msg)
    if code == "RATELIMITED" or "ratelimit" in kind:
        return RetriableError(msg)
    if code == "INTERNAL_SERVER_ERROR":
        return RetriableError(msg)
    return PermanentError(msg)


class LinearConnector(Connector):
    kind: ClassVar[str] = "linear"
    display_name: ClassVar[str] = "Linear"
    config_model: ClassVar[type[ConnectorConfig]] = LinearConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify"})
    # API keys: 1,500 requests/hour; 2 per issue
    default_rate_limit: ClassVar[tuple[float, int] | None] = (12.0, 10)
    config: LinearConfig

    def _auth_header(self) -> str:
        c = self.config
        if c.access_token is not None:
            return f"Bearer {c.access_token.get_secret_value()}"
        assert c.api_key is not None
        return c.api_key.get_secret_value()

    async def query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = await request_json(
            "POST",
            self.config.api_url,
            json={"query": query, "variables": variables},
            headers={"Authorization": self._auth_header()},
            what="linear",
            timeout=self.config.timeout,
            # Linear answers failed operations (a bad key included) with 400 and GraphQL errors
            ok_statuses=(400,),
        )
        if not isinstance(body, dict) or not ("data" in body or "errors" in body):
            raise PermanentError("linear: answer is not a GraphQL response")
        if body.get("errors"):
            raise graphql_error(body["errors"])
        return body.get("data") or {}

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        data = issue_input(message, self.config, idempotency_key)
        found = await self.query(FIND, {"id": data["id"]})
        nodes = (found.get("issues") or {}).get("nodes") or []
        if nodes:
            return str(nodes[0].get("identifier") or nodes[0]["id"])
        made = (await self.query(CREATE, {"input": data})).get("issueCreate") or {}
        if not made.get("success"):
            raise PermanentError("linear: issueCreate answered success=false")
        issue = made.get("issue") or {}
        return str(issue.get("identifier") or issue.get("id") or data["id"])

    async def check(self) -> CheckResult:
        try:
            data = await self.query(VIEWER, {"team": self.config.team_id})
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        team = data.get("team")
        if not team:
            err = ConfigError(f"linear: no team {self.config.team_id!r}")
            return CheckResult(ok=False, code=err.code, message=str(err))
        who = (data.get("viewer") or {}).get("name", "?")
        return CheckResult(ok=True, message=f"authenticated as {who}; team {team.get('key')}")
