"""Tables of the connectors feature: configured connector instances and delivery payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.tables import Base


class ConnectorRow(Base):
    """One configured connector. Secret fields live only in ``secrets`` (Fernet-encrypted JSON);
    ``refs`` remembers the ``${VAR}`` text each value came from so export can write it back."""

    __tablename__ = "connectors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    on: Mapped[list[Any]] = mapped_column(default=list)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[str] = mapped_column(Text, default="")
    refs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeliveryPayloadRow(Base):
    """What a delivery sent, by idempotency key, so `recflow deliveries retry` can resend a
    trigger's message exactly (every_call deliveries are rebuilt from the recording instead)."""

    __tablename__ = "delivery_payloads"

    idempotency_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    capability: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
