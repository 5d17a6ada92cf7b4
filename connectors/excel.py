"""Excel: one row per call in an ``.xlsx`` workbook on a local (or mounted) path, with openpyxl.

* The file and a header row are created when missing; an existing file keeps its layout: values
  go under the header names they belong to, wherever the user moved the columns.
* The first column holds the idempotency key. A delivery whose key is already in the sheet
  updates that row instead of adding one, so a retry never duplicates.
* Every value is written as a text cell, never a formula; values that a spreadsheet would read
  as a formula when retyped (``=``, ``@``, ``+``/``-`` not followed by a number, tab, CR) are
  prefixed with an apostrophe (OWASP's CSV-injection rule), so a transcript saying
  ``=HYPERLINK(…)`` stays text.
* Writers on one machine are serialised with an exclusive ``flock`` on a sidecar lock file; the
  workbook is written to a temporary file in the same folder, fsynced and renamed over the old
  one, so a crash or a reader never sees half a workbook.

openpyxl is blocking, so each append runs in a worker thread.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from connectors.base import CheckResult, ConfigError, Connector, ConnectorConfig, ConnectorError
from connectors.transport import run_blocking

KEY_COLUMN = "key"
DEFAULT_COLUMNS = [
    "recording_id",
    "started_at",
    "direction",
    "from_number",
    "from_name",
    "to_number",
    "to_name",
    "duration_seconds",
    "subject",
    "recording_url",
    "transcript_excerpt",
]
_CELL_MAX = 32767  # Excel's limit per cell
_NUMBER = re.compile(r"^[+-]?[0-9][0-9 ().-]*$")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # XML 1.0 cannot carry these
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class ExcelConfig(ConnectorConfig):
    path: str = Field(description="The .xlsx file (created with a header row when missing)")
    sheet: str = Field("Calls", description="Worksheet name (created when missing)")
    columns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COLUMNS),
        description="Columns after the key column, from the call's row fields",
    )

    @field_validator("path")
    @classmethod
    def _xlsx(cls, v: str) -> str:
        if not v.lower().endswith(".xlsx"):
            raise ValueError("path must name an .xlsx file")
        return v

    @field_validator("sheet")
    @classmethod
    def _sheet_name(cls, v: str) -> str:
        if not v or len(v) > 31 or any(ch in v for ch in "[]:*?/\\"):
            raise ValueError("sheet must be 1-31 characters without [ ] : * ? / \\")
        return v


def safe_cell(value: object) -> str:
    """The text of one cell: clipped, XML-safe and never readable as a formula."""
    text = _ILLEGAL.sub("", str(value if value is not None else ""))[:_CELL_MAX]
    first = text[:1]
    if first in ("=", "@", "\t", "\r") or (first in ("+", "-") and not _NUMBER.match(text)):
        return "'" + text[: _CELL_MAX - 1]
    return text


def _process_lock(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(path.resolve()), threading.Lock())


class ExcelConnector(Connector):
    kind: ClassVar[str] = "excel"
    display_name: ClassVar[str] = "Excel workbook (.xlsx)"
    config_model: ClassVar[type[ConnectorConfig]] = ExcelConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"append_row"})
    config: ExcelConfig

    @property
    def path(self) -> Path:
        return Path(self.config.path).expanduser()

    async def append_row(self, row: dict[str, str], *, idempotency_key: str) -> str:
        return await run_blocking(lambda: self.upsert_row(row, idempotency_key), _vendor_error)

    async def check(self) -> CheckResult:
        try:
            msg = await run_blocking(self._probe, _vendor_error)
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=msg)

    # ------------------------------------------------------------ blocking part

    def _probe(self) -> str:
        folder = self.path.parent
        if not folder.is_dir():
            raise ConfigError(f"excel: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"excel: folder {folder} is not writable")
        if self.path.exists():
            from openpyxl import load_workbook

            wb = load_workbook(self.path, read_only=True)
            rows = wb[self.config.sheet].max_row if self.config.sheet in wb.sheetnames else 0
            wb.close()
            return f"{self.path}: {rows} rows in {self.config.sheet!r}"
        return f"{self.path} will be created on the first call"

    def upsert_row(self, row: dict[str, str], key: str) -> str:
        """Insert (or update) the row of ``key``; returns ``Sheet!A<row>``."""
        path = self.path
        if not path.parent.is_dir():
            raise ConfigError(f"excel: folder {path.parent} does not exist")
        lock_path = path.with_name(f".{path.name}.lock")
        with _process_lock(path), open(lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._upsert_locked(path, row, key)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _upsert_locked(self, path: Path, row: dict[str, str], key: str) -> str:
        from openpyxl import Workbook, load_workbook

        wanted = [KEY_COLUMN, *self.config.columns]
        if path.exists():
            wb = load_workbook(path)
        else:
            wb = Workbook()
            wb.active.title = self.config.sheet  # type: ignore[union-attr]
        if self.config.sheet in wb.sheetnames:
            ws = wb[self.config.sheet]
        else:
            ws = wb.create_sheet(self.config.sheet)
        header = [str(c.value) if c.value is not None else "" for c in ws[1]] if ws.max_row else []
        if not any(header):
            header = []
        if not header:
            for i, name in enumerate(wanted, start=1):
                ws.cell(row=1, column=i, value=name)
            header = list(wanted)
        else:
            for name in wanted:  # columns added to the config since the file was made
                if name not in header:
                    header.append(name)
                    ws.cell(row=1, column=len(header), value=name)
        col = {name: i for i, name in enumerate(header, start=1)}
        key_col = col[KEY_COLUMN]
        target = None
        for r in range(2, ws.max_row + 1):
            if ws.cell(row=r, column=key_col).value == key:
                target = r
                break
        if target is None:
            target = ws.max_row + 1 if ws.max_row >= 1 else 2
        values = {KEY_COLUMN: key, **{c: row.get(c, "") for c in self.config.columns}}
        for name, value in values.items():
            cell = ws.cell(row=target, column=col[name])
            text = safe_cell(value)
            cell.value = text or None  # an empty cell, not an empty string
            if text:
                cell.data_type = "s"  # text, even when it starts with "="
        _save_atomically(wb, path)
        return f"{self.config.sheet}!A{target}"


def _save_atomically(wb: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600; keep the old file's mode, or what the umask gives a new one
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            wb.save(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _vendor_error(e: BaseException) -> ConnectorError | None:
    from zipfile import BadZipFile

    if isinstance(e, BadZipFile | KeyError | ValueError):
        return ConfigError(f"excel: the file is not a readable .xlsx workbook ({e})"[:500])
    if isinstance(e, PermissionError | IsADirectoryError | FileNotFoundError):
        return ConfigError(f"excel: {e}"[:500])
    if isinstance(e, OSError):
        # a full disk or a dropped network mount: worth another try later
        from connectors.base import RetriableError

        return RetriableError(f"excel: {e}"[:500])
    return None
