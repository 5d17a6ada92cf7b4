"""Google Sheets: one row per call appended to a worksheet, header row written when missing.

The first column holds the idempotency key; it is read before appending, so a retried delivery
finds its row instead of adding a second. Values go in as RAW, never USER_ENTERED: a transcript
that starts with "=" must stay text, not become a formula. gspread is blocking (requests), so
calls run in a worker thread.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import requests
from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import (
    AuthError,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    PermanentError,
    error_for_status,
)
from connectors.transport import run_blocking

SHEETS_API = "https://sheets.googleapis.com"
DRIVE_API = "https://www.googleapis.com"
SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
KEY_COLUMN = "key"
DEFAULT_COLUMNS = [
    "recording_id",
    "started_at",
    "direction",
    "from_number",
    "to_number",
    "duration_seconds",
    "subject",
    "recording_url",
    "transcript_excerpt",
]
_CELL_MAX = 50000  # Sheets' limit per cell


class GsheetsConfig(ConnectorConfig):
    spreadsheet_id: str = Field(description="The id in the sheet's URL (…/d/<id>/edit)")
    worksheet: str = Field("Sheet1", description="Worksheet (tab) title")
    service_account_json: SecretStr | None = Field(
        None, description="Service-account key file content (JSON); share the sheet with it"
    )
    access_token: SecretStr | None = Field(
        None, description="OAuth access token, instead of a service account"
    )
    columns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COLUMNS),
        description="Columns after the key column, from the call's row fields",
    )
    api_base_url: str = Field(
        SHEETS_API, description="Sheets API base URL (a proxy or a test server)"
    )
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")

    @field_validator("service_account_json")
    @classmethod
    def _is_json(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            try:
                json.loads(v.get_secret_value())
            except ValueError:
                raise ValueError("service_account_json is not JSON") from None
        return v

    @model_validator(mode="after")
    def _auth(self) -> GsheetsConfig:
        if self.service_account_json is None and self.access_token is None:
            raise ValueError("set service_account_json or access_token")
        return self


class _Rewrite:
    """Sends the Google API URLs gspread hard-codes to ``api_base_url`` (proxies, tests)."""

    _base: str = SHEETS_API
    _timeout: float = 30.0

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self._base != SHEETS_API:
            for prefix in (SHEETS_API, DRIVE_API):
                if url.startswith(prefix):
                    url = self._base.rstrip("/") + url[len(prefix) :]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)  # type: ignore[misc]


class _TokenSession(_Rewrite, requests.Session):
    pass


def row_values(row: dict[str, str], columns: list[str], key: str) -> list[str]:
    return [key, *(str(row.get(c, ""))[:_CELL_MAX] for c in columns)]


class GsheetsConnector(Connector):
    kind: ClassVar[str] = "gsheets"
    requires: ClassVar[tuple[str, ...]] = ("gspread",)
    extra: ClassVar[str] = "crm"
    display_name: ClassVar[str] = "Google Sheets"
    config_model: ClassVar[type[ConnectorConfig]] = GsheetsConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"append_row"})
    # Sheets API: 60 write requests per minute per user
    default_rate_limit: ClassVar[tuple[float, int] | None] = (60.0, 10)
    config: GsheetsConfig

    def _session(self) -> requests.Session:
        c = self.config
        if c.service_account_json is not None:
            from google.auth.transport.requests import AuthorizedSession
            from google.oauth2.service_account import Credentials

            creds = Credentials.from_service_account_info(
                json.loads(c.service_account_json.get_secret_value()), scopes=SCOPES
            )

            class _SA(_Rewrite, AuthorizedSession):
                pass

            sess: requests.Session = _SA(creds)
        else:
            assert c.access_token is not None
            sess = _TokenSession()
            sess.headers["Authorization"] = f"Bearer {c.access_token.get_secret_value()}"
        sess._base = c.api_base_url  # type: ignore[attr-defined]
        sess._timeout = c.timeout  # type: ignore[attr-defined]
        sess.trust_env = False
        return sess

    def _worksheet(self):  # type: ignore[no-untyped-def]
        import gspread

        client = gspread.Client(auth=None, session=self._session())  # type: ignore[arg-type]
        return client.open_by_key(self.config.spreadsheet_id).worksheet(self.config.worksheet)

    async def append_row(self, row: dict[str, str], *, idempotency_key: str) -> str:
        return await run_blocking(lambda: self._append(row, idempotency_key), self._vendor_error)

    async def check(self) -> CheckResult:
        try:
            title = await run_blocking(lambda: self._worksheet().title, self._vendor_error)
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"worksheet {title!r} found")

    def _vendor_error(self, e: BaseException) -> ConnectorError | None:
        import gspread

        if isinstance(e, gspread.exceptions.SpreadsheetNotFound):
            return PermanentError(f"gsheets: no spreadsheet {self.config.spreadsheet_id!r}")
        if isinstance(e, PermissionError):
            # gspread turns a 403 on open_by_key into the builtin PermissionError
            return AuthError("gsheets: permission denied (share the sheet with the account)")
        if isinstance(e, gspread.exceptions.WorksheetNotFound):
            return ConfigError(f"gsheets: no worksheet {self.config.worksheet!r}")
        if isinstance(e, gspread.exceptions.APIError):
            resp: Any = e.response
            return error_for_status(
                resp.status_code, "google sheets", retry_after=resp.headers.get("Retry-After")
            )
        return None

    def _append(self, row: dict[str, str], key: str) -> str:
        ws = self._worksheet()
        keys = [str(v) for v in ws.col_values(1)]
        if key in keys:
            return f"{ws.title}!A{keys.index(key) + 1}"
        values = row_values(row, self.config.columns, key)
        rows = [values] if keys else [[KEY_COLUMN, *self.config.columns], values]
        res = ws.append_rows(rows, value_input_option="RAW", insert_data_option="INSERT_ROWS")
        return str((res or {}).get("updates", {}).get("updatedRange", ws.title))
