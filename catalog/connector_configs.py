"""Catalog operations for configured connectors and delivery payloads.

The catalog stores the encrypted secrets token as opaque text; encryption and the split into
secret and plain fields happen in ``connectors.configured`` (the catalog imports nothing of ours).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select

from catalog.connector_tables import ConnectorRow, DeliveryPayloadRow
from catalog.models import assume_utc, utcnow
from catalog.repository import Catalog


class StoredConnector(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique name, used by rules and the delivery log")
    kind: str = Field(description="Connector kind (entry-point name)")
    enabled: bool = Field(True, description="Disabled connectors are never called")
    on: list[str] = Field(default_factory=list, description="Events: every_call")
    config: dict[str, Any] = Field(default_factory=dict, description="Non-secret config values")
    secrets: str = Field("", description="Encrypted JSON of the secret config values")
    refs: dict[str, Any] = Field(default_factory=dict, description="field → '${VAR}' text")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


def _from_row(row: ConnectorRow) -> StoredConnector:
    return StoredConnector(
        name=row.name,
        kind=row.kind,
        enabled=row.enabled,
        on=list(row.on or []),
        config=dict(row.config or {}),
        secrets=row.secrets or "",
        refs=dict(row.refs or {}),
        created_at=assume_utc(row.created_at),
        updated_at=assume_utc(row.updated_at),
    )


def list_connectors(catalog: Catalog) -> list[StoredConnector]:
    with catalog.db.session() as s:
        return [_from_row(r) for r in s.scalars(select(ConnectorRow).order_by(ConnectorRow.name))]


def get_connector(catalog: Catalog, name: str) -> StoredConnector | None:
    with catalog.db.session() as s:
        row = s.get(ConnectorRow, name)
        return _from_row(row) if row else None


def put_connector(catalog: Catalog, stored: StoredConnector) -> None:
    values = stored.model_dump(exclude={"name", "created_at"})
    values["updated_at"] = utcnow()
    with catalog.db.session() as s:
        row = s.get(ConnectorRow, stored.name)
        if row is None:
            s.add(ConnectorRow(name=stored.name, created_at=stored.created_at, **values))
        else:
            for k, v in values.items():
                setattr(row, k, v)


def delete_connector(catalog: Catalog, name: str) -> bool:
    with catalog.db.session() as s:
        res = s.execute(delete(ConnectorRow).where(ConnectorRow.name == name))
        return res.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def put_payload(
    catalog: Catalog, idempotency_key: str, capability: str, payload: dict[str, Any]
) -> None:
    with catalog.db.session() as s:
        row = s.get(DeliveryPayloadRow, idempotency_key)
        if row is None:
            s.add(
                DeliveryPayloadRow(
                    idempotency_key=idempotency_key,
                    capability=capability,
                    payload=payload,
                    created_at=utcnow(),
                )
            )
        else:
            row.capability = capability
            row.payload = payload


def get_payload(catalog: Catalog, idempotency_key: str) -> tuple[str, dict[str, Any]] | None:
    with catalog.db.session() as s:
        row = s.get(DeliveryPayloadRow, idempotency_key)
        return (row.capability, dict(row.payload)) if row else None
