"""What every request handler of the portal shares: the catalog, the identity stores, the
signer, the templates, the metrics, and a clock (tests move it to prove expiry and lockout)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.templating import Jinja2Templates

from catalog.audit import Audit
from catalog.models import utcnow
from catalog.repository import Catalog
from catalog.users import ApiTokens, Sessions, Users
from portal.metrics import Metrics
from portal.security import Signer
from portal.settings import PortalSettings

HERE = Path(__file__).parent


def audit_value(value: object) -> str:
    """Old/new values in the audit page: readable, not JSON-escaped (autoescape still applies)."""
    if value is None:
        return "∅"
    if isinstance(value, str):
        return f"“{value}”"
    return json.dumps(value, ensure_ascii=False)


@dataclass
class PortalState:
    catalog: Catalog
    settings: PortalSettings
    clock: Callable[[], datetime] = utcnow
    signer: Signer = field(init=False)
    users: Users = field(init=False)
    tokens: ApiTokens = field(init=False)
    sessions: Sessions = field(init=False)
    audit: Audit = field(init=False)
    templates: Jinja2Templates = field(init=False)
    metrics: Metrics = field(init=False)
    _allow_cache: tuple[float, list[str]] = (0.0, [])

    def __post_init__(self) -> None:
        s = self.settings
        self.signer = Signer(self.catalog.settings.keyring())
        self.users = Users(
            self.catalog,
            max_failures=s.max_failed_logins,
            lockout=timedelta(minutes=s.lockout_minutes),
        )
        self.tokens = ApiTokens(self.catalog)
        self.sessions = Sessions(
            self.catalog,
            idle=timedelta(minutes=s.session_idle_minutes),
            absolute=timedelta(hours=s.session_max_hours),
        )
        self.audit = Audit(self.catalog)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["audit_value"] = audit_value
        from portal import i18n

        i18n.install(self.templates.env)  # five languages (issue 16)
        self.metrics = Metrics(self.catalog)

    def allow_list(self) -> list[str]:
        """The account's IP allow-list, cached briefly: one catalog read per few seconds instead
        of one per request; changes from the CLI apply within ``allow_list_cache_seconds``."""
        expires, value = self._allow_cache
        now = time.monotonic()
        if now >= expires:
            value = list(self.catalog.account().ip_allow_list)
            self._allow_cache = (now + self.settings.allow_list_cache_seconds, value)
        return value

    def forget_allow_list(self) -> None:
        self._allow_cache = (0.0, [])

    @property
    def session_max_age_seconds(self) -> float:
        return self.settings.session_max_hours * 3600
