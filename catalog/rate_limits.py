"""A token bucket per connector, kept in the catalog so every worker process and machine shares
one limit (the catalog is the one database they all reach).

:func:`reserve` is one atomic ``UPDATE … SET tokens = refilled - 1 … RETURNING tokens``: the
database's row lock orders racing workers, on SQLite (3.35+) and PostgreSQL alike, with no
read-modify-write window. A negative balance is a queue of reservations: the caller learns when
its slot comes and sleeps until then.
"""

from __future__ import annotations

import time

from sqlalchemy import Float, String, case, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from catalog.repository import Catalog
from catalog.tables import Base


class RateBucketRow(Base):
    __tablename__ = "connector_rate_buckets"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)  # epoch seconds of the last refill


def reserve(
    catalog: Catalog, name: str, per_second: float, burst: int, now: float | None = None
) -> float:
    """Reserve the next call slot of ``name``'s bucket; returns the seconds until it (0.0 when a
    token was there). The bucket may go below zero: each caller gets its own later slot and
    sleeps until then, so waiting callers never poll the database."""
    now = time.time() if now is None else now
    col = RateBucketRow
    refilled = col.tokens + (now - col.updated) * per_second
    capped = case((refilled > burst, float(burst)), else_=refilled)
    with catalog.db.session() as s:
        left = s.execute(
            update(col)
            .where(col.name == name)
            .values(tokens=capped - 1.0, updated=now)
            .returning(col.tokens)
            .execution_options(synchronize_session=False)
        ).scalar()
    if left is None:
        try:
            with catalog.db.session() as s:
                s.add(RateBucketRow(name=name, tokens=float(burst) - 1.0, updated=now))
            return 0.0
        except IntegrityError:  # another worker created it first: reserve from it
            return reserve(catalog, name, per_second, burst, now)
    return max(0.0, -float(left) / per_second)


def refund(catalog: Catalog, name: str) -> None:
    """Give back a reserved slot that will not be used."""
    with catalog.db.session() as s:
        s.execute(
            update(RateBucketRow)
            .where(RateBucketRow.name == name)
            .values(tokens=RateBucketRow.tokens + 1.0)
        )
