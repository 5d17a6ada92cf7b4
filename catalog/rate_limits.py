"""A token bucket per connector, kept in the catalog so every worker process and machine shares
one limit (the catalog is the one database they all reach).

:func:`take` is one atomic ``UPDATE … WHERE tokens-after-refill >= 1``: the database's row lock
decides which of two racing workers gets the last token, on SQLite and PostgreSQL alike, with no
read-modify-write window. When no token is left, it answers how long until the next one.
"""

from __future__ import annotations

import time

from sqlalchemy import Float, String, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from catalog.repository import Catalog
from catalog.tables import Base


class RateBucketRow(Base):
    __tablename__ = "connector_rate_buckets"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)  # epoch seconds of the last refill


def take(
    catalog: Catalog, name: str, per_second: float, burst: int, now: float | None = None
) -> float:
    """Take one token from ``name``'s bucket. Returns 0.0 when taken, else the seconds until
    one will be there (nothing is taken then; call again after waiting)."""
    now = time.time() if now is None else now
    col = RateBucketRow
    refilled = col.tokens + (now - col.updated) * per_second
    capped = case((refilled > burst, float(burst)), else_=refilled)
    with catalog.db.session() as s:
        res = s.execute(
            update(col)
            .where(col.name == name, capped >= 1.0)
            .values(tokens=capped - 1.0, updated=now)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount == 1:  # type: ignore[attr-defined]
            return 0.0
        row = s.execute(select(col.tokens, col.updated).where(col.name == name)).first()
    if row is None:
        try:
            with catalog.db.session() as s:
                s.add(RateBucketRow(name=name, tokens=float(burst) - 1.0, updated=now))
            return 0.0
        except IntegrityError:  # another worker created it first: take from it
            return take(catalog, name, per_second, burst, now)
    tokens = min(float(burst), row.tokens + (now - row.updated) * per_second)
    return max(0.001, (1.0 - tokens) / per_second)
