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
    aggregate_calls,
    average_duration,
    delivery_failures,
    top_rule_matches,
)
from catalog.repository import Catalog
from catalog.reviews import score_summary
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


def _row(
    key: str, agg: CallAggregate, evaluations: tuple[int, float | None] = (0, None)
) -> ReportRow:
    avg = agg.total_seconds / agg.calls if agg.calls else 0.0
    return ReportRow(
        key=key,
        calls=agg.calls,
        total_seconds=round(agg.total_seconds, 3),
        average_seconds=round(avg, 3),
        inbound=agg.inbound,
        outbound=agg.outbound,
        evaluations=evaluations[0],
        average_score=evaluations[1],
    )


def _day_period(day: str, period: Period) -> Period:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    end = start + timedelta(days=1)
    return Period(
        max(start, period.since) if period.since else start,
        min(end, period.until) if period.until else end,
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
    if group_by == "all":
        (agg,) = aggregate_calls(catalog, visibility, period)
        return [_row("all", agg, score_summary(catalog, visibility, period))]
    if group_by == "day":
        return [
            _row(a.key, a, score_summary(catalog, visibility, _day_period(a.key, period)))
            for a in aggregate_calls(catalog, visibility, period, by="day")
        ]
    if group_by == "direction":
        return [
            _row(a.key, a, score_summary(catalog, visibility, period, direction=a.key))
            for a in aggregate_calls(catalog, visibility, period, by="direction")
        ]
    rows: list[ReportRow] = []
    if group_by == "user":
        owners = [(u.email, u.numbers) for u in users if u.numbers]
    else:
        owners = [
            (u.email, u.group_numbers)
            for u in users
            if u.role is Role.supervisor and u.group_numbers
        ]
    for key, numbers in sorted(owners):
        (agg,) = aggregate_calls(catalog, visibility, period, numbers=numbers)
        if agg.calls:
            rows.append(_row(key, agg, score_summary(catalog, visibility, period, numbers)))
    if group_by == "user":
        everyone = sorted({n for _, nums in owners for n in nums})
        (total,) = aggregate_calls(catalog, visibility, period)
        (owned,) = aggregate_calls(catalog, visibility, period, numbers=everyone)
        rest = CallAggregate(
            NO_USER,
            total.calls - owned.calls,
            total.total_seconds - owned.total_seconds,
            total.inbound - owned.inbound,
            total.outbound - owned.outbound,
        )
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
        "average_duration_seconds": round(average_duration(catalog, visibility, period), 3),
        "active_calls": active_calls(data_dir, visibility),
        "calls_by_direction": {a.key: a.calls for a in by_dir},
        "top_rule_matches": [
            {"rule": r, "calls": n} for r, n in top_rule_matches(catalog, visibility, period)
        ],
        "evaluations": dict(
            zip(
                ("reviews", "average_score"),
                score_summary(catalog, visibility, period),
                strict=True,
            )
        ),
        "delivery_failures": [
            {"connector": c, "failed": n} for c, n in delivery_failures(catalog, visibility, period)
        ],
    }
