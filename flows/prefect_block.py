"""``prefect_block``: notify through an existing Prefect notification block, by name.

Any block an integration engineer already saved in Prefect (Slack webhook, Microsoft Teams,
PagerDuty, Twilio SMS, Opsgenie, Mattermost, Discord, a custom webhook …) becomes a recflow
notifier: ``config: {block: "slack-webhook/ops-alerts"}`` (``<block type slug>/<document name>``).
Its credentials stay in Prefect; recflow stores only the name.

It lives in ``flows/`` because it is Prefect code (the cores never import Prefect); it is still an
ordinary connector: entry point ``prefect_block``, the shared contract, the mapped error classes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from connectors.base import (
    CheckResult,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Notification,
    RetriableError,
    error_for_exception,
    error_for_status,
)


class PrefectBlockConfig(ConnectorConfig):
    block: str = Field(
        description="The notification block as <block type slug>/<name>, "
        "e.g. slack-webhook/ops-alerts"
    )

    @field_validator("block")
    @classmethod
    def _slug(cls, v: str) -> str:
        if v.count("/") != 1 or not all(v.split("/")):
            raise ValueError("block must be <block type slug>/<block name>")
        return v


def _map(e: BaseException) -> ConnectorError:
    import httpx
    from prefect.blocks.abstract import NotificationError

    if isinstance(e, ConnectorError):
        return e
    if isinstance(e, httpx.HTTPStatusError):
        r = e.response
        return error_for_status(
            r.status_code, "notification target", retry_after=r.headers.get("Retry-After")
        )
    if isinstance(e, NotificationError):
        return RetriableError(f"prefect block: the notification failed: {str(e)[:300]}")
    if isinstance(e, ValueError):  # "Unable to find block document named …", wrong type
        return ConfigError(f"prefect block: {e}"[:500])
    return error_for_exception(e)


class PrefectBlockConnector(Connector):
    kind: ClassVar[str] = "prefect_block"
    display_name: ClassVar[str] = "Prefect notification block"
    config_model: ClassVar[type[ConnectorConfig]] = PrefectBlockConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify"})
    config: PrefectBlockConfig

    async def _block(self) -> Any:
        import prefect.blocks.notifications  # noqa: F401  (registers the built-in block types)
        from prefect.blocks.abstract import NotificationBlock
        from prefect.blocks.core import Block

        try:
            block = await Block.aload(self.config.block)
        except Exception as e:
            raise _map(e) from None
        if not isinstance(block, NotificationBlock):
            raise ConfigError(
                f"prefect block {self.config.block!r} is a {type(block).__name__}, "
                "not a notification block"
            )
        return block

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        block = await self._block()
        body = message.text
        if message.link_url:
            body = f"{body}\n\n{message.link_text}: {message.link_url}"
        try:
            with block.raise_on_failure():
                await block.anotify(body, subject=message.title)
        except Exception as e:
            raise _map(e) from None
        return self.config.block

    async def check(self) -> CheckResult:
        # loading proves the Prefect API answers and the block exists; sending would notify
        try:
            block = await self._block()
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"block {self.config.block} ({type(block).__name__})")
