"""Shared fixtures. Feature folders add their own conftest.py; heavy peers (a Prefect server,
PostgreSQL databases, a running stack) are session-scoped so the suite starts each once."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from recflow.environment import apply_defaults

PG_ADMIN_URL = os.environ.get(
    "RECFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

apply_defaults()
# Tests never inherit a developer's Prefect or recflow settings.
for _key in [k for k in os.environ if k.startswith(("PREFECT_API_URL", "RECFLOW_"))]:
    del os.environ[_key]
# In-process CLI tests (typer's CliRunner) read stdout and stderr mixed: no data-dir notice
# there. tests/recflow/test_data_dir_notice.py checks it in real `recflow` processes.
os.environ["RECFLOW_DATA_DIR_NOTICE"] = "0"


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (dropped afterwards)."""
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run starts it)")
    import psycopg

    name = f"recflow_test_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _open_catalog(tmp_path: Path, url: str | None):  # type: ignore[no-untyped-def]
    from catalog.db import Database
    from catalog.repository import Catalog
    from catalog.settings import RecflowSettings
    from catalog.store import LocalStore

    settings = RecflowSettings(data_dir=tmp_path / "data", database_url=url or "")
    db = Database(settings.resolved_database_url)
    return Catalog(db, LocalStore(settings.resolved_data_dir / "recordings"), settings)


@pytest.fixture
def catalog(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A migrated SQLite catalog in a temp data dir."""
    c = _open_catalog(tmp_path, None)
    yield c
    c.db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_catalog(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The same catalog tests on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        c = _open_catalog(tmp_path, None)
    else:
        url = request.getfixturevalue("pg_database_url")
        c = _open_catalog(tmp_path, url)
        from catalog.tables import Base

        with c.db.engine.begin() as conn:  # each test starts from empty tables
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    yield c
    c.db.dispose()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One SQLite-backed Prefect API server for the whole session."""
    from tests.support import PrefectServer

    server = PrefectServer(tmp_path_factory.mktemp("prefect")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One running `recflow up` for the end-to-end tests of every feature. Tests that change
    configuration apply it with `stack.cli("config", "apply", FILE)`; flows read it per run."""
    from tests.support import Stack

    s = Stack(tmp_path_factory.mktemp("stack"))
    s.up()
    yield s
    s.down()
