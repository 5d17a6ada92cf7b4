"""ClickUp: one task per message in a list (name, Markdown description, tags, link), API v2.

ClickUp has no official Python SDK; the REST API is spoken with the shared JSON-over-HTTP helper:
``POST /api/v2/list/{list_id}/task`` creates, ``GET /api/v2/list/{list_id}/task?tags[]=…`` finds.
Personal tokens (``pk_…``) and OAuth tokens both go in ``Authorization`` as they are.

Dedup: each task carries a tag derived from the idempotency key (``recflow-<hash>``); the list is
searched for it (closed tasks included) before creating, so a retry finds the task it made.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from connectors.base import (
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Notification,
)
from connectors.transport import request_json

_NAME_MAX = 255


class ClickupConfig(ConnectorConfig):
    api_token: SecretStr = Field(description="Personal API token (pk_…) or OAuth access token")
    list_id: str = Field(description="The list the tasks are created in")
    tags: list[str] = Field(default_factory=lambda: ["recflow"], description="Tags to add")
    priority: int | None = Field(None, ge=1, le=4, description="1 urgent … 4 low; empty = none")
    api_url: str = Field("https://api.clickup.com/api/v2", description="API v2 base URL")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")


def dedup_tag(idempotency_key: str) -> str:
    return "recflow-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def task_body(message: Notification, config: ClickupConfig, key: str) -> dict[str, Any]:
    """The create-task body (pure; tested)."""
    desc = message.markdown or message.text
    if message.fields:
        desc += "\n\n" + "\n".join(f"**{f.label}:** {f.value}" for f in message.fields)
    if message.link_url:
        desc += f"\n\n[{message.link_text}]({message.link_url})"
    tags = [*config.tags, *message.labels, dedup_tag(key)]
    body: dict[str, Any] = {
        "name": " ".join(message.title.split())[:_NAME_MAX],
        "markdown_description": desc,
        # ClickUp tags are lower-case
        "tags": list(dict.fromkeys(t.lower() for t in tags if t)),
    }
    if config.priority:
        body["priority"] = config.priority
    return body


class ClickupConnector(Connector):
    kind: ClassVar[str] = "clickup"
    display_name: ClassVar[str] = "ClickUp"
    config_model: ClassVar[type[ConnectorConfig]] = ClickupConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify"})
    # API v2: 100 requests/min per token; 2 per task
    default_rate_limit: ClassVar[tuple[float, int] | None] = (50.0, 10)
    config: ClickupConfig

    async def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        return await request_json(
            method,
            self.config.api_url.rstrip("/") + path,
            headers={"Authorization": self.config.api_token.get_secret_value()},
            what="clickup",
            timeout=self.config.timeout,
            **kwargs,
        )

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        tag = dedup_tag(idempotency_key)
        path = f"/list/{self.config.list_id}/task"
        found = await self._api(
            "GET", path, params={"tags[]": tag, "include_closed": "true", "subtasks": "true"}
        )
        tasks = (found or {}).get("tasks") or []
        mine = [t for t in tasks if tag in {str(x.get("name", "")) for x in t.get("tags") or []}]
        if mine:
            return str(mine[0]["id"])
        made = await self._api("POST", path, json=task_body(message, self.config, idempotency_key))
        return str((made or {}).get("id", ""))

    async def check(self) -> CheckResult:
        try:
            lst = await self._api("GET", f"/list/{self.config.list_id}")
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"list {(lst or {}).get('name', '?')!r} readable")
