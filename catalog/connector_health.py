"""Catalog reads behind connector health: the settled deliveries of one connector, newest first,
and the time of its last success (which may be older than any window of recent deliveries)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from catalog.models import Delivery, DeliveryStatus, assume_utc
from catalog.repository import Catalog
from catalog.tables import DeliveryRow

_SETTLED = (DeliveryStatus.succeeded.value, DeliveryStatus.failed.value)


def recent_settled(catalog: Catalog, connector: str, limit: int = 50) -> list[Delivery]:
    """The last ``limit`` succeeded or failed deliveries of ``connector``, newest first."""
    q = (
        select(DeliveryRow)
        .where(DeliveryRow.connector == connector, DeliveryRow.status.in_(_SETTLED))
        .order_by(DeliveryRow.updated_at.desc())
        .limit(limit)
    )
    with catalog.db.session() as s:
        return [catalog._delivery(r) for r in s.scalars(q)]


def last_success_at(catalog: Catalog, connector: str) -> datetime | None:
    q = select(func.max(DeliveryRow.updated_at)).where(
        DeliveryRow.connector == connector,
        DeliveryRow.status == DeliveryStatus.succeeded.value,
    )
    with catalog.db.session() as s:
        when = s.scalar(q)
    return assume_utc(when) if when is not None else None
