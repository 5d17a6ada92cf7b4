"""Engine, sessions and automatic migrations.

SQLite runs in WAL mode with a busy timeout so the recorder, worker, portal and CLI processes
can share one file; PostgreSQL is the production backend (``RECFLOW_DATABASE_URL``). Migrations
run at start-up under a lock (a file lock for SQLite, an advisory lock for PostgreSQL), so
several processes starting together never race each other.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x72656366  # "recf"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(engine: Engine) -> None:
    """Bring the schema to every head (each feature owns an alembic branch)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(engine), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
        return
    db_path = engine.url.database
    if not db_path or db_path == ":memory:":
        yield
        return
    with open(f"{db_path}.migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Database:
    """An engine plus a session factory, migrated on creation."""

    def __init__(self, url: str, *, run_migrations: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # one_transaction's sessions, for its own thread only: a portal request applying a
        # section must not pull the other requests' sessions into its transaction
        self._joined = threading.local()

    @contextmanager
    def session(self) -> Iterator[Session]:
        sessions = getattr(self._joined, "sessions", None) or self.sessions
        with sessions.begin() as s:
            yield s

    @contextmanager
    def one_transaction(self, *, keep: bool = True) -> Iterator[None]:
        """Inside the block every session of this Database joins one outer transaction as a
        savepoint: committed at the end when ``keep`` and the block did not raise, rolled back
        otherwise. Other processes see all of the block's writes or none — `config apply`
        lands every section at once, so the recorder never decides a call on half an apply
        (a new policy with the old directory). Sessions of other threads are not affected."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if self.is_sqlite:
                # pysqlite's own transaction handling breaks savepoints; drive it ourselves.
                # IMMEDIATE: take the write lock up front (a deferred read that later writes
                # can fail at once with "database is locked" instead of waiting its turn)
                level = raw.isolation_level  # type: ignore[union-attr]
                raw.isolation_level = None  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN IMMEDIATE" if keep else "BEGIN")
            saved = getattr(self._joined, "sessions", None)
            self._joined.sessions = sessionmaker(
                bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            done = False
            try:
                yield
                done = True
            finally:
                self._joined.sessions = saved
                if done and keep:
                    conn.commit()
                else:
                    conn.rollback()
                if self.is_sqlite:
                    raw.isolation_level = level  # type: ignore[union-attr]

    def rehearsal(self) -> AbstractContextManager[None]:
        """Run real write code and keep nothing (`config apply --dry-run` reports exactly what
        the apply would change)."""
        return self.one_transaction(keep=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()


@lru_cache
def database_for(url: str) -> Database:
    return Database(url)
