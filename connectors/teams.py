"""Microsoft Teams: an Adaptive Card posted to an incoming webhook or a Workflows webhook.

Both webhook kinds accept the ``{"type": "message", "attachments": [{contentType:
application/vnd.microsoft.card.adaptive, content: <card>}]}`` envelope, so one payload serves both.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr

from connectors.base import (
    CheckResult,
    Connector,
    ConnectorConfig,
    Notification,
)
from connectors.transport import send

_COLORS = {"info": "Default", "warning": "Warning", "critical": "Attention"}


class TeamsConfig(ConnectorConfig):
    webhook_url: SecretStr = Field(
        description="Incoming webhook or Workflows (Power Automate) URL; it embeds a credential"
    )
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds per HTTP request")


def adaptive_card(message: Notification) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _COLORS.get(message.severity, "Default"),
        },
        {"type": "TextBlock", "text": (message.markdown or message.text)[:20000], "wrap": True},
    ]
    if message.fields:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": f.label, "value": f.value} for f in message.fields],
            }
        )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link_url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": message.link_text, "url": message.link_url}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


class TeamsConnector(Connector):
    kind: ClassVar[str] = "teams"
    display_name: ClassVar[str] = "Microsoft Teams"
    config_model: ClassVar[type[ConnectorConfig]] = TeamsConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify"})
    # incoming webhooks: throttled above 4 requests per second
    default_rate_limit: ClassVar[tuple[float, int] | None] = (240.0, 4)
    config: TeamsConfig

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        payload = adaptive_card(message)
        r = await send(
            "POST",
            self.config.webhook_url.get_secret_value(),
            json=payload,
            what="teams",
            timeout=self.config.timeout,
        )
        # Workflows webhooks answer 202 with no body; classic ones answer "1"
        return r.headers.get("x-ms-request-id", "") or f"http-{r.status_code}"

    async def check(self) -> CheckResult:
        # A webhook can only post; probing would put a card in the channel.
        return CheckResult(ok=True, message="webhook: not probed (a probe would post)")
