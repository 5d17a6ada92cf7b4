"""Process settings (environment, prefix RECFLOW_). One cached instance per process."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from catalog.keys import KeyRing, keyring


class RecflowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECFLOW_", extra="ignore")

    data_dir: Path = Field(
        Path("recflow-data"), description="Where recordings and the catalog live"
    )
    database_url: str = Field("", description="SQLAlchemy URL; SQLite under data_dir when empty")
    secret_key: SecretStr | None = Field(
        None, description="Encrypts stored secrets, signs sessions"
    )
    secret_key_previous: SecretStr | None = Field(
        None,
        description="Previous secret key(s), comma-separated, newest first: still read while "
        "`recflow secrets rotate` moves stored secrets to the current key",
    )
    worker_concurrency: int = Field(0, description="Flow runs at a time per worker; 0 = by backend")
    worker_lease_seconds: float = Field(30.0, description="A worker silent this long is dead")
    dispatch_interval_seconds: float = Field(2.0, description="How often captured rows are swept")
    public_url: str = Field(
        "", description="The portal's address as users reach it, for links in messages"
    )
    health_alert_connector: str = Field(
        "",
        description="Connector (email, Slack …) told once when another connector needs "
        "re-authentication; empty = nobody is told",
    )

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'catalog.sqlite3'}"

    def resolved_secret_key(self) -> str:
        """The configured key, or (embedded/dev use) one generated once under the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.resolved_data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def previous_secret_keys(self) -> list[str]:
        if self.secret_key_previous is None:
            return []
        raw = self.secret_key_previous.get_secret_value()
        return [k.strip() for k in raw.split(",") if k.strip()]

    def keyring(self) -> KeyRing:
        """The current and previous keys."""
        return keyring(self.resolved_secret_key(), self.previous_secret_keys())


@lru_cache
def get_settings() -> RecflowSettings:
    return RecflowSettings()
