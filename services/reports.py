"""Call reports and the dashboard's figures (Masergy reports/dashboard), scoped to what the
viewer may see.

A report row: ``key`` (``all``, a UTC day, a user's e-mail, a supervisor's group, a direction),
``calls``, ``total_seconds``, ``average_seconds``, ``inbound``, ``outbound``. The same rows are
served as JSON, CSV and XLSX, so the three formats can never disagree.

Per user and per group: a call counts for a user when one of the user's numbers is a party; for a
group (a supervisor's ``group_numbers``, named after the supervisor) likewise. A call between two
users counts for both, so those rows may sum to more than ``all``; calls on no user's number are
the ``(no user)`` row.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from catalog.portal_queries import Visibility
from catalog.quality import (
    CallAggregate,
    Period,
    aggregate_by_owner,
    aggregate_calls,
    delivery_failures,
    top_rule_matches,
)
from catalog.repository import Catalog
from catalog.users import Role, User

GROUP_BY = ("all", "day", "user", "group", "direction")
COLUMNS = (
    "key",
    "calls",
    "total_seconds",
    "average_seconds",
    "inbound",
    "outbound",
    "evaluations",
    "average_score",
)
FORMATS = ("json", "csv", "xlsx")
NO_USER = "(no user)"


class ReportError(ValueError):
    pass


@dataclass(frozen=True)
class ReportRow:
    key: str
    calls: int
    total_seconds: float
    average_seconds: float
    inbound: int
    outbound: int
    evaluations: int = 0  # scored reviews of these calls
    average_score: float | None = None  # their average, 0–100


def _row(key: str, agg: CallAggregate) -> ReportRow:
    avg = agg.total_seconds / agg.calls if agg.calls else 0.0
    return ReportRow(
        key=key,
        calls=agg.calls,
        total_seconds=round(agg.total_seconds, 3),
        average_seconds=round(avg, 3),
        inbound=agg.inbound,
        outbound=agg.outbound,
        evaluations=agg.reviews,
        average_score=agg.average_score,
    )


def call_report(
    catalog: Catalog,
    visibility: Visibility,
    users: list[User],
    group_by: str = "all",
    period: Period | None = None,
) -> list[ReportRow]:
    if group_by not in GROUP_BY:
        raise ReportError(f"group_by must be one of {', '.join(GROUP_BY)}, not {group_by!r}")
    period = period or Period()
    if group_by in ("all", "day", "direction"):
        return [_row(a.key, a) for a in aggregate_calls(catalog, visibility, period, by=group_by)]
    if group_by == "user":
        owners = {u.email: u.numbers for u in users if u.numbers}
    else:
        owners = {
            u.email: u.group_numbers for u in users if u.role is Role.supervisor and u.group_numbers
        }
    per_owner = aggregate_by_owner(catalog, visibility, period, owners)
    rows = [_row(k, a) for k, a in sorted(per_owner.items()) if a.calls]
    if group_by == "user":
        everyone = sorted({n for nums in owners.values() for n in nums})
        (total,) = aggregate_calls(catalog, visibility, period)
        (owned,) = aggregate_calls(catalog, visibility, period, numbers=everyone)
        rest = total - owned
        if rest.calls:
            rows.append(_row(NO_USER, rest))
    return rows


def rows_json(rows: list[ReportRow]) -> dict[str, Any]:
    return {"rows": [asdict(r) for r in rows]}


def rows_csv(rows: list[ReportRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([getattr(r, c) for c in COLUMNS])
    return buf.getvalue()


def rows_xlsx(rows: list[ReportRow], title: str = "calls") -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31] or "calls")
    ws.append(list(COLUMNS))
    for r in rows:
        ws.append([getattr(r, c) for c in COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parse_period(since: str | None, until: str | None) -> Period:
    """``YYYY-MM-DD`` (whole UTC days; ``until`` inclusive) or ISO 8601 timestamps."""

    def one(value: str | None, end: bool) -> datetime | None:
        if not value:
            return None
        value = value.strip()
        try:
            if len(value) == 10:
                d = date.fromisoformat(value)
                start = datetime(d.year, d.month, d.day, tzinfo=UTC)
                return start + timedelta(days=1) if end else start
            ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ReportError(f"not a date: {value!r} (use YYYY-MM-DD or ISO 8601)") from None
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)

    p = Period(one(since, False), one(until, True))
    if p.since and p.until and p.since >= p.until:
        raise ReportError("since must be before until")
    return p


# ---------------------------------------------------------------- dashboard

DEFAULT_DAYS = 30


def dashboard_period(since: str | None, until: str | None, now: datetime) -> Period:
    """The dashboard's period: as given, else the last ``DEFAULT_DAYS`` days up to now."""
    p = parse_period(since, until)
    if p.since is None and p.until is None:
        return Period(now - timedelta(days=DEFAULT_DAYS), None)
    return p


def active_calls(data_dir: Path, visibility: Visibility) -> int:
    """Calls being recorded now: the recorder keeps one ``.rec`` file (and a JSON sidecar with
    the parties) per live call under ``DATA_DIR/recorder/live``. Single-node: with several
    recorders each node has its own directory."""
    live = data_dir / "recorder" / "live"
    if not live.is_dir():
        return 0
    n = 0
    for audio in live.glob("*.rec"):
        if visibility.everything and visibility.private_all:
            n += 1
            continue
        try:
            desc = json.loads(audio.with_suffix(".json").read_text())
        except (OSError, ValueError):
            continue  # parties unknown: only an admin may count it
        parties = {str(desc.get("from_number") or ""), str(desc.get("to_number") or "")} - {""}
        if (
            desc.get("private")
            and not visibility.private_all
            and not parties & visibility.own_numbers
        ):
            continue
        if visibility.everything or parties & visibility.numbers:
            n += 1
    return n


def dashboard(
    catalog: Catalog, visibility: Visibility, period: Period, data_dir: Path
) -> dict[str, Any]:
    per_day = aggregate_calls(catalog, visibility, period, by="day")
    (total,) = aggregate_calls(catalog, visibility, period)
    by_dir = aggregate_calls(catalog, visibility, period, by="direction")
    return {
        "since": period.since.isoformat() if period.since else None,
        "until": period.until.isoformat() if period.until else None,
        "total_calls": total.calls,
        "calls_per_day": [
            {
                "day": a.key,
                "calls": a.calls,
                "average_seconds": round(a.total_seconds / a.calls, 3) if a.calls else 0.0,
            }
            for a in per_day
        ],
        "average_duration_seconds": round(total.total_seconds / total.calls, 3)
        if total.calls
        else 0.0,
        "active_calls": active_calls(data_dir, visibility),
        "calls_by_direction": {a.key: a.calls for a in by_dir},
        "top_rule_matches": [
            {"rule": r, "calls": n} for r, n in top_rule_matches(catalog, visibility, period)
        ],
        "evaluations": {"reviews": total.reviews, "average_score": total.average_score},
        "delivery_failures": [
            {"connector": c, "failed": n} for c, n in delivery_failures(catalog, visibility, period)
        ],
    }
