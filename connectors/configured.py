"""Configured connectors: from stored (encrypted) rows to live connector instances and back.

Secret fields (typed ``SecretStr`` in the connector's config model) are split off and encrypted
with :mod:`connectors.secrets` before anything reaches the catalog; plain fields are stored as
JSON so the portal can show them.
"""

from __future__ import annotations

from typing import Any

from catalog.connector_configs import StoredConnector, get_connector, list_connectors
from catalog.repository import Catalog
from connectors import registry
from connectors.base import Connector, secret_fields
from connectors.secrets import decrypt_json, encrypt_json


class ConnectorNotFound(KeyError):
    pass


def split_values(kind: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain, secret) halves of a config dict, by the kind's config model."""
    names = set(secret_fields(registry.get(kind).config_model))
    plain = {k: v for k, v in values.items() if k not in names}
    secret = {k: v for k, v in values.items() if k in names}
    return plain, secret


def make_stored(
    *,
    name: str,
    kind: str,
    values: dict[str, Any],
    enabled: bool = True,
    on: list[str] | None = None,
    refs: dict[str, Any] | None = None,
    secret_key: str | None = None,
) -> StoredConnector:
    plain, secret = split_values(kind, values)
    return StoredConnector(
        name=name,
        kind=kind,
        enabled=enabled,
        on=list(on or []),
        config=plain,
        secrets=encrypt_json(secret, secret_key=secret_key) if secret else "",
        refs=dict(refs or {}),
    )


def values_of(stored: StoredConnector, *, secret_key: str | None = None) -> dict[str, Any]:
    """The full (decrypted) config dict. Never log what this returns."""
    return {**stored.config, **decrypt_json(stored.secrets, secret_key=secret_key)}


def build(stored: StoredConnector, *, secret_key: str | None = None) -> Connector:
    cls = registry.get(stored.kind)
    config = cls.config_model.model_validate(values_of(stored, secret_key=secret_key))
    return cls(config, name=stored.name)


def load(catalog: Catalog, name: str) -> Connector:
    """The live connector ``name``: its capability calls rate-limited across all workers, and an
    authentication failure reported to the admins' connector (once)."""
    from connectors.health import watched
    from connectors.ratelimit import limited

    stored = get_connector(catalog, name)
    if stored is None:
        raise ConnectorNotFound(f"no connector named {name!r}")
    return watched(limited(build(stored), catalog), catalog, build)


def every_call(catalog: Catalog) -> list[StoredConnector]:
    return [s for s in list_connectors(catalog) if s.enabled and "every_call" in s.on]
