"""The exactly-once state machine that recordings and SMS share.

Each work item row has ``id``, ``status``, ``attempt`` and ``status_changed_at``. Every state
change is one compare-and-set UPDATE on (id, attempt, status): whoever changes the row first
wins, and a worker holding a stale attempt changes nothing. A lost run is handed out again
under the next attempt number, so any late writer of the old attempt is ignored.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from sqlalchemy import update

from catalog.db import Database
from catalog.models import utcnow


def transition(
    db: Database,
    table: Any,
    item_id: str,
    attempt: int,
    from_: Iterable[enum.Enum],
    **values: Any,
) -> bool:
    """Set ``values`` on the item if it is still at ``attempt`` and in one of ``from_``;
    True when this call made the change."""
    with db.session() as s:
        res = s.execute(
            update(table)
            .where(
                table.id == item_id,
                table.attempt == attempt,
                table.status.in_([st.value for st in from_]),
            )
            .values(status_changed_at=utcnow(), **values)
        )
        return res.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def requeue(
    db: Database,
    table: Any,
    item_id: str,
    *,
    from_statuses: Iterable[enum.Enum],
    to: enum.Enum,
    failed: enum.Enum,
    max_attempts: int,
    **reset: Any,
) -> int | None:
    """Hand an item out again under the next attempt, in status ``to`` and with ``reset``
    applied; returns the new attempt, or None when the item is not in ``from_statuses`` (any
    more). After ``max_attempts`` it goes to ``failed`` instead (and None is returned): an item
    that kills every worker that touches it must not loop forever."""
    statuses = {st.value for st in from_statuses}
    with db.session() as s:
        row = s.get(table, item_id)
        if row is None or row.status not in statuses:
            return None
        new_attempt = row.attempt + 1
        exhausted = new_attempt >= max_attempts
        res = s.execute(
            update(table)
            .where(table.id == item_id, table.attempt == row.attempt, table.status == row.status)
            .values(
                status=(failed if exhausted else to).value,
                error=f"gave up after {new_attempt} attempts" if exhausted else row.error,
                attempt=new_attempt,
                flow_run_id=None,
                status_changed_at=utcnow(),
                **reset,
            )
        )
        if res.rowcount != 1 or exhausted:  # type: ignore[attr-defined]
            return None
        return new_attempt
