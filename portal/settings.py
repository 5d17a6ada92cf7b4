"""Portal process settings (environment, prefix ``RECFLOW_PORTAL_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECFLOW_PORTAL_", extra="ignore")

    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed; no one else's",
    )
    session_idle_minutes: float = Field(30, description="A session unused this long expires")
    session_max_hours: float = Field(12, description="A session expires this long after login")
    max_failed_logins: int = Field(5, description="Wrong passwords/codes in a row before lockout")
    lockout_minutes: float = Field(15, description="How long a locked account stays locked")
    cookie_secure: bool = Field(
        False, description="Mark cookies Secure (set when the portal is served over HTTPS)"
    )
    allow_list_cache_seconds: float = Field(
        2.0, description="How long the account's IP allow-list is cached per process"
    )
