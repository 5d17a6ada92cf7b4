"""The one exactly-once state machine for everything a worker processes (recordings, SMS, …).

Life of a work item::

    ready ──claim──▶ processing ──complete──▶ done
      ▲                 │  └──────fail──────▶ failed ──rerun──▶ processing
      └──release/requeue┘   (lease lost: the claiming worker stopped heartbeating)

Each row has ``id``, ``status``, ``attempt``, ``claimed_by``, ``flow_run_id`` and
``status_changed_at``. Every state change is one compare-and-set UPDATE on (id, attempt, status
[, claimed_by]): whoever changes the row first wins, and a worker holding a stale attempt changes
nothing.

*Claim first, then run*: a worker claims ready items here (the claim is the gate), then runs the
flow; only the claim holder can attach a flow run to the item or complete it. The lease rule is the
same for every kind of item: a claim is alive while its worker's heartbeat (``workers`` table) is
younger than the lease; an item held by a dead worker is handed out again under the next attempt
number, so a late writer of the old attempt is ignored. The flow run id of the lost attempt stays
on the row (``flow_run_id``) so the next run can clean it up in Prefect.

Recordings (``captured → processing → processed | failed``) and SMS (``pending → processing →
processed | failed``) are two :class:`WorkQueue` values over this one machine; they differ only in
the stored name of the ready state. ``dispatched`` (a flow run created before a claim: the v1
design) is accepted as ready, so rows left in it by an older version are picked up.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from catalog.db import Database
from catalog.models import utcnow
from catalog.tables import WorkerRow


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
                status_changed_at=utcnow(),
                **reset,
            )
        )
        if res.rowcount != 1 or exhausted:  # type: ignore[attr-defined]
            return None
        return new_attempt


class HandBack(enum.Enum):
    """What :meth:`WorkQueue.hand_back` did."""

    requeued = "requeued"  # ready again under the next attempt
    gave_up = "gave_up"  # failed for good: max_attempts reached
    not_held = "not_held"  # the caller does not hold the claim: nothing changed


@dataclass(frozen=True)
class Claim:
    """A work item this worker now holds. ``previous_run`` is the flow run of an earlier attempt
    that was lost (its worker died, or Prefect never finished it): the new run removes it."""

    id: str
    attempt: int
    previous_run: str | None = None


@dataclass(frozen=True)
class WorkQueue:
    """One kind of work item over the shared state machine (see the module docstring)."""

    table: Any
    ready: enum.Enum
    processing: enum.Enum
    done: enum.Enum
    failed: enum.Enum
    legacy_ready: tuple[enum.Enum, ...] = ()
    max_attempts: int = 5

    @property
    def _ready_values(self) -> list[str]:
        return [self.ready.value, *(st.value for st in self.legacy_ready)]

    # ------------------------------------------------------------------ claiming

    def claim_next(self, db: Database, worker_id: str, limit: int) -> list[Claim]:
        """Claim up to ``limit`` ready items, oldest first. Safe with many workers: each row is
        taken with a compare-and-set, so a row another worker took in between is skipped."""
        if limit <= 0:
            return []
        t = self.table
        with db.session() as s:
            candidates = s.execute(
                select(t.id, t.attempt, t.status, t.flow_run_id)
                .where(t.status.in_(self._ready_values))
                .order_by(t.created_at)
                .limit(limit)
            ).all()
        claims = []
        for item_id, attempt, status, run_id in candidates:
            with db.session() as s:
                res = s.execute(
                    update(t)
                    .where(t.id == item_id, t.attempt == attempt, t.status == status)
                    .values(
                        status=self.processing.value,
                        claimed_by=worker_id,
                        status_changed_at=utcnow(),
                    )
                )
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    claims.append(Claim(item_id, attempt, run_id))
        return claims

    def claim(self, db: Database, item_id: str, attempt: int, worker_id: str) -> bool:
        """Claim one ready item at ``attempt``."""
        return transition(
            db,
            self.table,
            item_id,
            attempt,
            [self.ready, *self.legacy_ready],
            status=self.processing.value,
            claimed_by=worker_id,
        )

    def claim_rerun(self, db: Database, item_id: str, worker_id: str) -> Claim | None:
        """Re-process on demand: a ready, done or failed item is claimed under the next attempt.
        None while another worker holds it (processing), or when it does not exist."""
        t = self.table
        with db.session() as s:
            row = s.execute(
                select(t.attempt, t.status, t.flow_run_id).where(t.id == item_id)
            ).one_or_none()
            if row is None or row.status == self.processing.value:
                return None
            res = s.execute(
                update(t)
                .where(t.id == item_id, t.attempt == row.attempt, t.status == row.status)
                .values(
                    status=self.processing.value,
                    attempt=row.attempt + 1,
                    claimed_by=worker_id,
                    error="",
                    status_changed_at=utcnow(),
                )
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return Claim(item_id, row.attempt + 1, None)

    def _update_held(
        self, db: Database, item_id: str, attempt: int, worker_id: str, /, **values: Any
    ) -> bool:
        """Change an item only while ``worker_id`` holds its claim for ``attempt``; False when
        it does not (a stale run, another worker, already finished)."""
        t = self.table
        with db.session() as s:
            res = s.execute(
                update(t)
                .where(
                    t.id == item_id,
                    t.attempt == attempt,
                    t.status == self.processing.value,
                    t.claimed_by == worker_id,
                )
                .values(**values)
            )
            return res.rowcount == 1  # type: ignore[attr-defined, no-any-return]

    def attach_run(
        self, db: Database, item_id: str, attempt: int, worker_id: str, flow_run_id: str
    ) -> bool:
        """The flow run started for a claim: record its id. False when the caller does not hold
        the claim (stale attempt, another worker, already finished) — the run must stop."""
        return self._update_held(db, item_id, attempt, worker_id, flow_run_id=flow_run_id)

    # ------------------------------------------------------------------ finishing

    def complete(
        self, db: Database, item_id: str, attempt: int, worker_id: str, **values: Any
    ) -> bool:
        """The one successful finish. False when the caller lost its claim (a stale run)."""
        now = utcnow()
        return self._update_held(
            db,
            item_id,
            attempt,
            worker_id,
            status=self.done.value,
            processed_at=now,
            status_changed_at=now,
            claimed_by=None,
            error="",
            **values,
        )

    def fail(
        self, db: Database, item_id: str, attempt: int, error: str, worker_id: str | None = None
    ) -> bool:
        """Mark the item failed (visible, needs a retry). With ``worker_id`` only the claim
        holder can do it."""
        t = self.table
        cond = [t.id == item_id, t.attempt == attempt, t.status != self.done.value]
        if worker_id is not None:
            cond += [t.status == self.processing.value, t.claimed_by == worker_id]
        with db.session() as s:
            res = s.execute(
                update(t)
                .where(*cond)
                .values(
                    status=self.failed.value,
                    error=error[:2000],
                    claimed_by=None,
                    status_changed_at=utcnow(),
                )
            )
            return res.rowcount == 1  # type: ignore[attr-defined, no-any-return]

    def release(self, db: Database, item_id: str, attempt: int, worker_id: str) -> bool:
        """Give a claim back untouched (the run could not start, e.g. Prefect was down): the
        item is ready again under the same attempt."""
        return self._update_held(
            db,
            item_id,
            attempt,
            worker_id,
            status=self.ready.value,
            claimed_by=None,
            status_changed_at=utcnow(),
        )

    def hand_back(
        self, db: Database, item_id: str, attempt: int, worker_id: str, error: str
    ) -> HandBack:
        """The claim holder met a transient failure of the platform mid-run (the Prefect API
        or the catalog went away): the item is handed out again under the next attempt, as
        when a worker dies, keeping the run id for clean-up and ``error`` for people to see.
        After ``max_attempts`` it is failed instead, so an error that only looks transient
        cannot loop forever. Says which of the three happened (see :class:`HandBack`)."""
        exhausted = attempt + 1 >= self.max_attempts
        reason = f"gave up after {attempt + 1} attempts: {error}" if exhausted else error
        changed = self._update_held(
            db,
            item_id,
            attempt,
            worker_id,
            status=(self.failed if exhausted else self.ready).value,
            attempt=attempt + 1,
            claimed_by=None,
            error=reason[:2000],
            status_changed_at=utcnow(),
        )
        if not changed:
            return HandBack.not_held
        return HandBack.gave_up if exhausted else HandBack.requeued

    def done_run(self, db: Database, item_id: str, attempt: int) -> str | None:
        """The flow run that finished the item at ``attempt`` (None when not done)."""
        t = self.table
        with db.session() as s:
            row = s.execute(
                select(t.flow_run_id).where(
                    t.id == item_id, t.attempt == attempt, t.status == self.done.value
                )
            ).one_or_none()
        return row[0] if row else None

    def finished_run(self, db: Database, item_id: str) -> tuple[str, str, Any, str] | None:
        """(status, flow_run_id, status_changed_at, error) of an item that is done or failed,
        for settling a run whose worker died before reporting its final state to Prefect; None
        while the item is still ready or processing (or unknown)."""
        t = self.table
        with db.session() as s:
            row = s.execute(
                select(t.status, t.flow_run_id, t.status_changed_at, t.error).where(
                    t.id == item_id, t.status.in_([self.done.value, self.failed.value])
                )
            ).one_or_none()
        return (row[0], row[1] or "", row[2], row[3] or "") if row else None

    def count_by_state(self, db: Database) -> dict[str, int]:
        """waiting (ready) and processing items, for queue-depth metrics and `recflow status`."""
        from sqlalchemy import func

        t = self.table
        with db.session() as s:
            rows = s.execute(select(t.status, func.count()).group_by(t.status)).all()
        by = {status: n for status, n in rows}
        return {
            "waiting": sum(by.get(v, 0) for v in self._ready_values),
            "processing": by.get(self.processing.value, 0),
            "failed": by.get(self.failed.value, 0),
        }

    # ------------------------------------------------------------------ leases

    def orphaned(self, db: Database, lease_seconds: float, limit: int = 500) -> list[Claim]:
        """Items held by workers that stopped heartbeating (crashed or killed)."""
        t = self.table
        cutoff = utcnow() - timedelta(seconds=lease_seconds)
        with db.session() as s:
            live = select(WorkerRow.id).where(WorkerRow.heartbeat_at >= cutoff)
            rows = s.execute(
                select(t.id, t.attempt, t.flow_run_id)
                .where(
                    t.status == self.processing.value,
                    or_(t.claimed_by.is_(None), t.claimed_by.not_in(live)),
                )
                .limit(limit)
            ).all()
        return [Claim(i, a, r) for i, a, r in rows]

    def requeue(
        self,
        db: Database,
        item_id: str,
        *,
        from_statuses: Iterable[enum.Enum] | None = None,
        max_attempts: int | None = None,
    ) -> int | None:
        """Hand an item out again under the next attempt (keeping the lost run's id for clean-up);
        after ``max_attempts`` it is marked failed instead."""
        return requeue(
            db,
            self.table,
            item_id,
            from_statuses=from_statuses or {self.processing},
            to=self.ready,
            failed=self.failed,
            max_attempts=max_attempts or self.max_attempts,
            claimed_by=None,
        )

    def reclaim_orphans(self, db: Database, lease_seconds: float) -> list[str]:
        """Requeue every item whose worker died; returns their ids."""
        out = []
        for c in self.orphaned(db, lease_seconds):
            if self.requeue(db, c.id) is not None:
                out.append(c.id)
        return out
