"""The hosted SFTP tree: a virtual, read-only directory tree over the catalog, exactly as the
Focus "SFTP Structure" lays it out::

    MobileVoiceRecorder/MobileVoiceRecorder_Live/
      CallRecordings/{MP3,WAV_16_8000_S,WAV_8_8000_M}/Daily/YYYY/MM/DD/
          <end YYYYMMDDHHMMSS>_<from>_<to>_<account>_<recording id>.<mp3|wav>
      SMS/CSV/Monthly/YYYY/MM/<account>_SMSMessages_YYYY_MM.csv

Every call is listed in every format folder, under the UTC day it *ended*; the format folder only
says what the file is converted to when read. File names are the archive's ``focus`` layout
(``services.archive_layout``: same fields and sanitising; a test keeps the two equal). Nothing here
knows about SSH: the server (:mod:`services.sftp_server`) maps SFTP requests onto :func:`resolve`,
:func:`list_dir` and :func:`open_source`.

Sizes: before a file was converted, its listed size is exact for WAV_16_8000_S (the stored file
is served as is) and for WAV_8_8000_M (one byte per frame), an estimate for MP3 (32 kbit/s);
once converted, the real size. Focus says the same: sizes are not known before download.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum

from catalog.portal_queries import Visibility
from catalog.repository import Catalog
from catalog.sftp_queries import CallEntry, call_days, calls_ended_on, visible_call
from catalog.sms import first_sms_time, get_sms_settings
from services.archive_layout import AudioFormat, sanitise_field
from services.sms_format import csv_file_name, csv_key

ROOT_DIRS = ("MobileVoiceRecorder", "MobileVoiceRecorder_Live")
CALLS = "CallRecordings"
SMS = "SMS"
FORMATS = tuple(f.value for f in AudioFormat)
WAV_HEADER = 44
MP3_BYTES_PER_SECOND = 32_000 // 8


class NodeKind(Enum):
    DIR = "dir"
    CALL = "call"
    SMS_CSV = "sms_csv"


@dataclass(frozen=True)
class Node:
    """One resolved path. ``parts`` are the path's segments below the root."""

    kind: NodeKind
    parts: tuple[str, ...]
    call: CallEntry | None = None
    fmt: AudioFormat | None = None
    month: tuple[int, int] | None = None
    mtime: float = 0.0

    @property
    def path(self) -> str:
        return "/" + "/".join(self.parts)


@dataclass(frozen=True)
class Entry:
    """One line of a directory listing."""

    name: str
    is_dir: bool
    size: int = 0
    mtime: float = 0.0


class NotFound(Exception):
    pass


def split(path: str) -> tuple[str, ...]:
    """Normalise an SFTP path (absolute or relative to the root) into segments. ``..`` never
    climbs above the root."""
    out: list[str] = []
    for seg in path.replace("\\", "/").split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return tuple(out)


def account_field(account_name: str) -> str:
    return sanitise_field(account_name)


_PLAIN = re.compile(r"[A-Za-z0-9+@=-]+(?:\.[A-Za-z0-9+@=-]+)*")


def _field(value: str) -> str:
    """``sanitise_field`` with a fast path for values it would leave alone (numbers, ids)."""
    plain = _PLAIN.fullmatch(value) and "--" not in value and value[0] != "-" != value[-1]
    return value if plain else sanitise_field(value)


def call_file_name(call: CallEntry, fmt: AudioFormat, account: str) -> str:
    """The Focus name: ``<end>_<from>_<to>_<account>_<id>.<ext>`` (end time in UTC)."""
    e = call.ended_at.astimezone(UTC)
    return (
        f"{e.year:04d}{e.month:02d}{e.day:02d}{e.hour:02d}{e.minute:02d}{e.second:02d}"
        f"_{_field(call.from_number)}_{_field(call.to_number)}_{account}_{_field(call.id)}"
        f".{fmt.ext}"
    )


def estimated_size(call: CallEntry, fmt: AudioFormat) -> int:
    frames = (
        max(0, call.file_size - WAV_HEADER) // 4
        if call.file_size
        else int(call.duration_seconds * 8000)
    )
    if fmt is AudioFormat.WAV_16_8000_S:
        return call.file_size or WAV_HEADER + frames * 4
    if fmt is AudioFormat.WAV_8_8000_M:
        return WAV_HEADER + frames
    return int(frames / 8000 * MP3_BYTES_PER_SECOND) + 1024


def _num(seg: str, width: int, lo: int, hi: int) -> int:
    if len(seg) != width or not seg.isdigit() or not lo <= int(seg) <= hi:
        raise NotFound(seg)
    return int(seg)


def _ts(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


class SftpTree:
    """The tree as one SFTP user sees it (``visibility``). Methods block on the catalog: the
    server calls them in a thread."""

    def __init__(
        self,
        catalog: Catalog,
        visibility: Visibility,
        *,
        show_sms: bool,
        converted_size: Callable[[str, AudioFormat], int | None] = lambda _id, _f: None,
        sms_numbers: frozenset[str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.visibility = visibility
        self.show_sms = show_sms
        self.sms_numbers = sms_numbers  # None: every SMS; else only these parties'
        self.converted_size = converted_size
        self.account = account_field(catalog.account().name)

    # ------------------------------------------------------------ resolving

    def resolve(self, path: str) -> Node:
        parts = split(path)
        n = len(parts)
        if parts[: min(n, 2)] != ROOT_DIRS[: min(n, 2)]:
            raise NotFound(path)
        if n <= 2:
            return Node(NodeKind.DIR, parts)
        area = parts[2]
        if area == CALLS:
            return self._resolve_calls(parts)
        if area == SMS and self.show_sms:
            return self._resolve_sms(parts)
        raise NotFound(path)

    def _resolve_calls(self, parts: tuple[str, ...]) -> Node:
        n = len(parts)
        if n == 3:
            return Node(NodeKind.DIR, parts)
        if parts[3] not in FORMATS:
            raise NotFound(parts[3])
        fmt = AudioFormat(parts[3])
        if n == 4:
            return Node(NodeKind.DIR, parts, fmt=fmt)
        if parts[4] != "Daily":
            raise NotFound(parts[4])
        if n == 5:
            return Node(NodeKind.DIR, parts, fmt=fmt)
        year = _num(parts[5], 4, 1970, 9999)
        month = _num(parts[6], 2, 1, 12) if n > 6 else None
        day = _num(parts[7], 2, 1, calendar.monthrange(year, month)[1]) if n > 7 and month else None
        if n <= 8:
            # a date folder exists when a visible call ended in it
            days = self._days(year, month)
            if day is not None:
                days = [d for d in days if d.day == day]
            if not days:
                raise NotFound("/".join(parts))
            return Node(NodeKind.DIR, parts, fmt=fmt, mtime=_ts(days[-1]))
        if n != 9 or month is None or day is None:
            raise NotFound("/".join(parts))
        call = self._call_by_name(parts[8], fmt, date(year, month, day))
        return Node(NodeKind.CALL, parts, call=call, fmt=fmt, mtime=call.ended_at.timestamp())

    def _call_by_name(self, name: str, fmt: AudioFormat, day: date) -> CallEntry:
        stem, dot, ext = name.rpartition(".")
        if not dot or ext != fmt.ext:
            raise NotFound(name)
        rec_id = stem.rsplit("_", 1)[-1]
        call = visible_call(self.catalog, self.visibility, rec_id)
        if (
            call is None
            or call.ended_at.astimezone(UTC).date() != day
            or call_file_name(call, fmt, self.account) != name
        ):
            raise NotFound(name)
        return call

    def _resolve_sms(self, parts: tuple[str, ...]) -> Node:
        n = len(parts)
        if n == 3:
            return Node(NodeKind.DIR, parts)
        if parts[3] != "CSV" or (n > 4 and parts[4] != "Monthly"):
            raise NotFound("/".join(parts))
        if n <= 5:
            return Node(NodeKind.DIR, parts)
        months = self._sms_months()
        year = _num(parts[5], 4, 1970, 9999)
        if n == 6:
            if not any(y == year for y, _ in months):
                raise NotFound(parts[5])
            return Node(NodeKind.DIR, parts)
        month = _num(parts[6], 2, 1, 12)
        if (year, month) not in months:
            raise NotFound(parts[6])
        if n == 7:
            return Node(NodeKind.DIR, parts)
        if n == 8 and parts[7] == self.sms_file_name(year, month):
            return Node(NodeKind.SMS_CSV, parts, month=(year, month))
        raise NotFound("/".join(parts))

    # ------------------------------------------------------------ listing

    def list_dir(self, node: Node) -> list[Entry]:
        parts = node.parts
        n = len(parts)
        if node.kind is not NodeKind.DIR:
            raise NotFound(node.path)
        if n < 2:
            return [Entry(ROOT_DIRS[n], True)]
        if n == 2:
            return [Entry(CALLS, True)] + ([Entry(SMS, True)] if self.show_sms else [])
        if parts[2] == SMS:
            return self._list_sms(parts)
        if n == 3:
            return [Entry(f, True) for f in FORMATS]
        if n == 4:
            return [Entry("Daily", True)]
        assert node.fmt is not None
        if n == 5:
            return [Entry(f"{y:04d}", True) for y in sorted({d.year for d in self._days()})]
        year = int(parts[5])
        if n == 6:
            months = sorted({d.month for d in self._days(year)})
            return [Entry(f"{m:02d}", True) for m in months]
        month = int(parts[6])
        if n == 7:
            return [Entry(f"{d.day:02d}", True, mtime=_ts(d)) for d in self._days(year, month)]
        day = date(year, month, int(parts[7]))
        return [
            Entry(
                call_file_name(c, node.fmt, self.account),
                False,
                size=self.size(c, node.fmt),
                mtime=c.ended_at.timestamp(),
            )
            for c in calls_ended_on(self.catalog, self.visibility, day)
        ]

    def _list_sms(self, parts: tuple[str, ...]) -> list[Entry]:
        n = len(parts)
        if n == 3:
            return [Entry("CSV", True)]
        if n == 4:
            return [Entry("Monthly", True)]
        months = self._sms_months()
        if n == 5:
            return [Entry(f"{y:04d}", True) for y in sorted({y for y, _ in months})]
        year = int(parts[5])
        if n == 6:
            return [Entry(f"{m:02d}", True) for y, m in months if y == year]
        month = int(parts[6])
        return [Entry(self.sms_file_name(year, month), False)]

    def size(self, call: CallEntry, fmt: AudioFormat) -> int:
        real = self.converted_size(call.id, fmt)
        return real if real is not None else estimated_size(call, fmt)

    def _days(self, year: int | None = None, month: int | None = None) -> list[date]:
        since = until = None
        if year is not None:
            since = datetime(year, month or 1, 1, tzinfo=UTC)
            if month is None:
                until = datetime(year + 1, 1, 1, tzinfo=UTC)
            else:
                until = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        return call_days(self.catalog, self.visibility, since=since, until=until)

    # ------------------------------------------------------------ SMS

    def sms_file_name(self, year: int, month: int) -> str:
        settings = get_sms_settings(self.catalog).monthly_csv
        return csv_file_name(settings, self.catalog.account().name, year, month)

    def sms_key(self, year: int, month: int) -> str:
        return csv_key(self.sms_file_name(year, month), year, month)

    def _sms_months(self) -> list[tuple[int, int]]:
        """One file per month from the first SMS (or this month) to this month — Focus lists a
        month even when it had no SMS."""
        now = datetime.now(UTC)
        first = first_sms_time(self.catalog) or now
        first = min(first, now)
        out = []
        y, m = first.year, first.month
        while (y, m) <= (now.year, now.month):
            out.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out
