"""Legal holds from the portal: place holds on recordings (one, several, or every call a search
finds), release them with a reason, and the retention report as rows for a page or a CSV.

Holds are the archive ledger's (``catalog.archive``): while a hold is active, retention never
deletes the recording, and ``move`` archives keep its local copy. Callers audit each change.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from catalog import archive as ledger
from catalog.hold_queries import ActiveHold, active_holds
from catalog.portal_queries import RecordingQuery, Visibility, page_recordings
from catalog.repository import Catalog

MAX_BULK = 5000


class HoldError(ValueError):
    pass


@dataclass
class Placed:
    placed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # missing, or not visible to the caller


def _clean_reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not reason:
        raise HoldError("a hold needs a reason")
    if len(reason) > 1000:
        raise HoldError("the reason is longer than 1000 characters")
    return reason


def place_holds(
    catalog: Catalog, ids: Iterable[str], *, reason: str, by: str, visibility: Visibility
) -> Placed:
    """Hold each recording the caller can see; recordings already held are left as they are."""
    reason = _clean_reason(reason)
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not wanted:
        raise HoldError("no recordings given")
    if len(wanted) > MAX_BULK:
        raise HoldError(f"at most {MAX_BULK} recordings at once")
    out = Placed()
    found = {r.id: r for r in catalog.recordings_by_ids(wanted)}
    held = ledger.held_ids(catalog.db, list(found))
    for rid in wanted:
        rec = found.get(rid)
        if rec is None or not visibility.allows(rec):
            out.unknown.append(rid)
        elif rid in held:
            out.already.append(rid)
        else:
            ledger.add_hold(catalog.db, rid, reason=reason, by=by)
            out.placed.append(rid)
    return out


def search_ids(catalog: Catalog, query: RecordingQuery, visibility: Visibility) -> list[str]:
    """Every recording a search finds (newest first), at most MAX_BULK."""
    out: list[str] = []
    cursor = None
    while len(out) < MAX_BULK:
        rows, cursor = page_recordings(catalog, query, visibility, cursor=cursor, limit=500)
        out += [r.id for r in rows]
        if cursor is None:
            break
    return out[:MAX_BULK]


def release(catalog: Catalog, recording_id: str, *, reason: str, by: str) -> int:
    """Release every active hold on one recording; returns how many were released."""
    _clean_reason(reason)
    return ledger.release_holds(catalog.db, recording_id, by=by)


def holds(catalog: Catalog) -> list[ActiveHold]:
    return active_holds(catalog.db)


def holds_on(catalog: Catalog, recording_id: str) -> list[ActiveHold]:
    """The active holds on one recording (the recording page shows them)."""
    return active_holds(catalog.db, recording_id=recording_id)


# ---------------------------------------------------------------- retention report


@dataclass(frozen=True)
class ReportRow:
    recording_id: str
    started_at: datetime
    from_number: str
    to_number: str
    group: str
    days: int
    expires_at: datetime
    action: str
    reason: str


def retention_rows(catalog: Catalog, *, now: datetime | None = None) -> list[ReportRow]:
    """What retention would do now with every expired recording (oldest first)."""
    policy = ledger.load_policy(catalog)
    archives = [d.name for d in ledger.load_destinations(catalog) if d.enabled]
    decisions = ledger.retention_decisions(
        catalog.db,
        policy,
        legal_hold=catalog.account().legal_hold,
        now=now,
        archives=archives if policy.require_archived else (),
    )
    return [
        ReportRow(
            recording_id=d.subject.recording_id,
            started_at=d.subject.started_at,
            from_number=d.subject.from_number,
            to_number=d.subject.to_number,
            group=d.group,
            days=d.days,
            expires_at=d.expires_at,
            action=d.action,
            reason=d.reason,
        )
        for d in decisions
    ]


CSV_COLUMNS = (
    "recording_id",
    "started_at",
    "from",
    "to",
    "group",
    "days",
    "expires_at",
    "action",
    "reason",
)


def retention_csv(rows: Iterable[ReportRow]) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(
            [
                r.recording_id,
                r.started_at.isoformat(),
                r.from_number,
                r.to_number,
                r.group,
                r.days,
                r.expires_at.isoformat(),
                r.action,
                r.reason,
            ]
        )
    return buf.getvalue()
