"""Portal fixtures: a fresh SQLite catalog per test, a movable clock, users and logged-in
clients driven through the real login pages (password + TOTP)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.users import NewUser, Users
from portal.app import create_app
from portal.settings import PortalSettings
from tests.portal.portal_support import logged_in


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    settings = RecflowSettings(data_dir=tmp_path / "data", secret_key="portal-tests-secret-key")
    cat = Catalog.open(settings)
    yield cat
    cat.db.dispose()


@pytest.fixture
def portal_settings() -> PortalSettings:
    return PortalSettings(max_failed_logins=3, lockout_minutes=10, allow_list_cache_seconds=0)


@pytest.fixture
def app(catalog: Catalog, portal_settings: PortalSettings, clock: Clock):  # type: ignore[no-untyped-def]
    return create_app(catalog, portal_settings, clock=clock)


@dataclass
class Person:
    new: NewUser
    secret: str

    @property
    def email(self) -> str:
        return self.new.user.email

    def code(self, clock: Clock) -> str:
        return pyotp.TOTP(self.secret).at(clock.now)


@pytest.fixture
def make_user(catalog: Catalog, clock: Clock):  # type: ignore[no-untyped-def]
    users = Users(catalog)

    def make(email: str, role: str = "admin", **kw: object) -> Person:
        new = users.create(email, role, now=clock.now, **kw)  # type: ignore[arg-type]
        return Person(new, users.totp_secret(new.user.id))

    return make


@pytest.fixture
def admin(make_user) -> Person:  # type: ignore[no-untyped-def]
    return make_user("admin@example.com", "admin", numbers=["100"])


@pytest.fixture
def admin_client(app, admin: Person, clock: Clock) -> TestClient:  # type: ignore[no-untyped-def]
    return logged_in(app, admin, clock)
