"""Portal process settings (environment, prefix ``RECFLOW_PORTAL_``)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECFLOW_PORTAL_", extra="ignore")

    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed; no one else's",
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted from an authenticated caller (413 beyond)",
    )
    anonymous_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request body accepted before the caller is known (the login forms)",
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

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, v: object) -> object:
        from catalog.models import normalize_networks

        if isinstance(v, str):  # RECFLOW_PORTAL_TRUSTED_PROXIES=10.0.0.0/8,192.0.2.1 or JSON
            text = v.strip()
            v = json.loads(text) if text.startswith("[") else [p for p in text.split(",")]
        if isinstance(v, list):
            return normalize_networks([str(x) for x in v])
        return v
