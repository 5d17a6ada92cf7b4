"""recflow connectors as Prefect blocks: ``recflow connectors publish NAME`` saves a configured
connector as a ``recflow-connector`` block document, so an integration engineer's own flow can
load it and call it with the same code, limits and error classes recflow uses::

    from recflow.prefect_blocks import RecflowConnector

    @flow
    async def tell_ops():
        crm = RecflowConnector.load("salesforce-prod").connector()
        await crm.log_call(activity, idempotency_key="my-flow:42")

The connector's secret fields go into the block's ``secrets`` (a ``SecretDict``: Prefect stores it
encrypted and shows it masked in the UI and API); plain fields go into ``config``. Publishing the
same name again overwrites the document (the block is a copy taken at publish time: publish again
after a ``config apply`` that changes it).
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import Field

BLOCK_TYPE_SLUG = "recflow-connector"


class RecflowConnector(Block):
    """A configured recflow connector (kind, plain config, secrets) as a Prefect block."""

    _block_type_name = "Recflow Connector"
    _block_type_slug = BLOCK_TYPE_SLUG
    _description = "A recflow connector (CRM, ticketing, chat, storage …) with its credentials."

    kind: str = Field(description="Connector kind, e.g. salesforce, zendesk, excel")
    config: dict[str, Any] = Field(default_factory=dict, description="Plain config fields")
    secrets: SecretDict = Field(
        default_factory=lambda: SecretDict({}), description="Secret config fields"
    )

    def connector(self, name: str | None = None) -> Any:
        """A live recflow connector built from this block (``connectors.base.Connector``)."""
        from connectors import registry

        cls = registry.get(self.kind)
        values = {**self.config, **self.secrets.get_secret_value()}
        return cls(cls.config_model.model_validate(values), name=name or self.kind)


def block_name(connector_name: str) -> str:
    """Prefect block document names are lower-case slugs: letters, digits and dashes."""
    import re

    slug = re.sub(r"[^a-z0-9-]+", "-", connector_name.lower()).strip("-")
    if not slug:
        raise ValueError(f"cannot make a block name from {connector_name!r}")
    return slug


def publish(kind: str, plain: dict[str, Any], secret: dict[str, Any], name: str) -> str:
    """Save (or overwrite) the block document; returns ``recflow-connector/<name>``."""
    slug = block_name(name)
    RecflowConnector(kind=kind, config=plain, secrets=SecretDict(secret)).save(slug, overwrite=True)
    return f"{BLOCK_TYPE_SLUG}/{slug}"
