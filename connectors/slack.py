"""Slack: ``chat.postMessage`` with Block Kit and a plain-text fallback, or an incoming webhook.

Bot-token mode needs ``token`` and ``channel``; webhook mode needs only ``webhook_url``. The
slack-sdk ``WebClient`` is blocking (urllib), so every call runs in a worker thread.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import (
    AuthError,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Notification,
    PermanentError,
    error_for_status,
)
from connectors.transport import run_blocking, send

# Slack rejects section text over 3000 chars and header text over 150.
_SECTION_MAX = 3000
_HEADER_MAX = 150
_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
_CONFIG_ERRORS = {"channel_not_found", "not_in_channel", "is_archived", "missing_scope"}


class SlackConfig(ConnectorConfig):
    token: SecretStr | None = Field(None, description="Bot token (xoxb-…) for chat.postMessage")
    channel: str = Field("", description="Channel name (#support) or id (C0123…)")
    base_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    webhook_url: SecretStr | None = Field(
        None, description="Incoming-webhook URL (alternative to token + channel)"
    )
    username: str = Field("", description="Display name override (bot-token mode)")
    icon_emoji: str = Field("", description="Icon override, e.g. :telephone_receiver:")
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds per HTTP request")

    @field_validator("token")
    @classmethod
    def _ascii_token(cls, v: SecretStr | None) -> SecretStr | None:
        # an HTTP header cannot carry "…": the docs' `xoxb-…` placeholder pasted as a token
        if v is not None and not v.get_secret_value().isascii():
            raise ValueError("token has non-ASCII characters (a placeholder like xoxb-…?)")
        return v

    @model_validator(mode="after")
    def _one_mode(self) -> SlackConfig:
        if self.webhook_url is None and (self.token is None or not self.channel):
            raise ValueError("set token and channel, or webhook_url")
        return self


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def blocks_for(message: Notification) -> list[dict[str, Any]]:
    """Block Kit for a notification: header, body section, fields, link button."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(message.title, _HEADER_MAX)},
        }
    ]
    body = message.markdown or message.text
    if body:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(body, _SECTION_MAX)}}
        )
    if message.fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _clip(f"*{f.label}*\n{f.value}", 2000)}
                    for f in message.fields[:10]  # Slack allows at most 10 fields
                ],
            }
        )
    if message.link_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": _clip(message.link_text, 75)},
                        "url": message.link_url,
                    }
                ],
            }
        )
    return blocks


class SlackConnector(Connector):
    kind: ClassVar[str] = "slack"
    requires: ClassVar[tuple[str, ...]] = ("slack_sdk",)
    extra: ClassVar[str] = "crm"
    display_name: ClassVar[str] = "Slack"
    config_model: ClassVar[type[ConnectorConfig]] = SlackConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify"})
    # chat.postMessage: about 1 message per second per channel, short bursts allowed
    default_rate_limit: ClassVar[tuple[float, int] | None] = (60.0, 10)
    config: SlackConfig

    def _client(self):  # type: ignore[no-untyped-def]
        from slack_sdk import WebClient

        assert self.config.token is not None
        return WebClient(
            token=self.config.token.get_secret_value(),
            base_url=self.config.base_url,
            timeout=int(self.config.timeout),
            # no SDK-internal retries: the delivery loop's retry policy wraps this call
            retry_handlers=[],
        )

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        # Slack has no idempotency header; the delivery ledger keeps a key from posting twice.
        fallback = _clip(f"{message.title}\n{message.text}", 4000)
        blocks = blocks_for(message)
        if self.config.webhook_url is not None:
            return await self._post_webhook({"text": fallback, "blocks": blocks})
        kwargs: dict[str, Any] = {
            "channel": self.config.channel,
            "text": fallback,
            "blocks": blocks,
        }
        if self.config.username:
            kwargs["username"] = self.config.username
        if self.config.icon_emoji:
            kwargs["icon_emoji"] = self.config.icon_emoji
        resp = await self._call("chat_postMessage", **kwargs)
        return f"{resp.get('channel', '')}/{resp.get('ts', '')}"

    async def check(self) -> CheckResult:
        if self.config.webhook_url is not None:
            # posting is the only thing a webhook can do; a check must not spam the channel
            return CheckResult(ok=True, message="webhook mode: not probed (a probe would post)")
        try:
            resp = await self._call("auth_test")
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"authenticated as {resp.get('user', '?')}")

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        client = self._client()
        resp = await run_blocking(lambda: getattr(client, method)(**kwargs), _vendor_error)
        return dict(resp.data) if isinstance(resp.data, dict) else {}

    async def _post_webhook(self, payload: dict[str, Any]) -> str:
        assert self.config.webhook_url is not None
        await send(
            "POST",
            self.config.webhook_url.get_secret_value(),
            json=payload,
            what="slack webhook",
            timeout=self.config.timeout,
        )
        return "webhook"


def _vendor_error(e: BaseException) -> ConnectorError | None:
    from slack_sdk.errors import SlackApiError

    if isinstance(e, SlackApiError):
        return _map_slack_error(e)
    if isinstance(e, UnicodeEncodeError):
        return ConfigError("slack: token or channel has characters an HTTP request cannot carry")
    return None


def _map_slack_error(e: Any) -> ConnectorError:
    resp = e.response
    status = getattr(resp, "status_code", 200)
    data = resp.data if isinstance(getattr(resp, "data", None), dict) else {}
    err = str(data.get("error", "")) or f"status {status}"
    if status >= 400 and status != 200:
        headers = {k.lower(): v for k, v in (getattr(resp, "headers", {}) or {}).items()}
        ra = headers.get("retry-after")
        if isinstance(ra, list):
            ra = ra[0] if ra else None
        return error_for_status(status, err, retry_after=ra)
    if err in _AUTH_ERRORS:
        return AuthError(f"slack: {err}")
    if err in _CONFIG_ERRORS:
        return ConfigError(f"slack: {err}")
    if err == "ratelimited":
        return error_for_status(429, err)
    return PermanentError(f"slack: {err}")
