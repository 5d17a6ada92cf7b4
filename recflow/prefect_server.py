"""The embedded Prefect server of `recflow up`: `prefect server start`, with write transactions
on SQLite started ``IMMEDIATE``.

Why: Prefect opens its write transactions on SQLite as ``BEGIN DEFERRED`` (only
``with_for_update`` ones are ``IMMEDIATE``). A deferred transaction that reads, then writes, fails
with ``database is locked`` at once when another connection committed in between — SQLite's
busy timeout does not cover that case — so the API answers 503 and the client backs off 2–8 s.
Under a burst (flow runs created while the task-run recorder and the run's own state changes
commit) that happened almost once per recording. An ``IMMEDIATE`` transaction takes the write
lock at ``BEGIN``, where the busy timeout (60 s in Prefect) does apply: writers queue instead of
failing. Reads (sessions without ``begin_transaction``) are untouched.

The change is made in this process only (the server's), by wrapping
``AioSqliteConfiguration.begin_transaction``; ``tests/recflow/test_prefect_server.py`` pins the
Prefect behaviour it relies on, so an upgrade that changes it fails a test instead of silently
undoing this. Run as ``python -m recflow.prefect_server [prefect server start options]`` or
``recflow prefect-server``.

Scale-out (docs/operations.md): the same process serves as one of several API servers sharing one
PostgreSQL database when ``RECFLOW_PREFECT_DATABASE_URL`` names it, and uses Prefect's Redis
messaging (``prefect-redis``) when ``RECFLOW_PREFECT_REDIS_URL`` is set: events, the task-run
recorder's stream, causal ordering, concurrency leases and the perpetual services' task queue
(docket) then go through Redis, so every API server sees every event and the background services
of all servers share one queue. :func:`server_environment` maps the two variables to Prefect's
own settings; a ``PREFECT_*`` setting given explicitly wins.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from typing import Any

# Prefect's settings for several API servers on one database (prefect-redis modules): what the
# Prefect docs' "scale self-hosted Prefect" guide sets, checked against Prefect 3.8's settings
# models by tests/recflow/test_prefect_scale_settings.py
REDIS_MODULES = {
    "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
    "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
    "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
}


class ScaleOutConfigError(Exception):
    """RECFLOW_PREFECT_REDIS_URL is set but cannot be used."""


def server_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Prefect settings for this server from recflow's variables: the database
    (``RECFLOW_PREFECT_DATABASE_URL``) and Redis messaging (``RECFLOW_PREFECT_REDIS_URL``,
    e.g. ``redis://redis:6379/0``). Settings already in ``environ`` are left out (they win)."""
    environ = os.environ if environ is None else environ
    wanted: dict[str, str] = {}
    db = environ.get("RECFLOW_PREFECT_DATABASE_URL")
    if db:
        wanted["PREFECT_API_DATABASE_CONNECTION_URL"] = db
    redis_url = environ.get("RECFLOW_PREFECT_REDIS_URL")
    if redis_url:
        if not redis_url.startswith(("redis://", "rediss://", "redis+sentinel://")):
            raise ScaleOutConfigError(
                f"RECFLOW_PREFECT_REDIS_URL must be a redis:// or rediss:// URL, not {redis_url!r}"
            )
        try:
            import prefect_redis  # noqa: F401
        except ImportError as e:
            raise ScaleOutConfigError(
                "RECFLOW_PREFECT_REDIS_URL is set but the prefect-redis package is not installed"
            ) from e
        wanted.update(REDIS_MODULES)
        wanted["PREFECT_REDIS_MESSAGING_URL"] = redis_url
        wanted["PREFECT_SERVER_DOCKET_URL"] = redis_url  # perpetual services' queue (docket)
    return {k: v for k, v in wanted.items() if not environ.get(k)}


_INSTALLED = False
original_begin_transaction: Any = None  # Prefect's own, kept for the tests that pin it


def install_immediate_writes() -> bool:
    """Make every SQLite write transaction of the Prefect server ``BEGIN IMMEDIATE``.
    Idempotent; returns False when this Prefect lacks the hook (then nothing is changed)."""
    global _INSTALLED, original_begin_transaction
    if _INSTALLED:
        return True
    from prefect.server.database import configurations as cfg

    sqlite_cfg = getattr(cfg, "AioSqliteConfiguration", None)
    mode_var = getattr(cfg, "SQLITE_BEGIN_MODE", None)
    if sqlite_cfg is None or mode_var is None or not hasattr(sqlite_cfg, "begin_transaction"):
        return False

    @asynccontextmanager
    async def begin_transaction(
        self: Any, session: Any, with_for_update: bool = False
    ) -> AsyncGenerator[Any, None]:
        token = mode_var.set("IMMEDIATE")
        try:
            async with session.begin() as transaction:
                yield transaction
        finally:
            mode_var.reset(token)

    original_begin_transaction = sqlite_cfg.begin_transaction
    sqlite_cfg.begin_transaction = begin_transaction
    _INSTALLED = True
    return True


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        os.environ.update(server_environment())
    except ScaleOutConfigError as e:
        print(f"recflow: error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if os.environ.get("PREFECT_MESSAGING_BROKER", "").startswith("prefect_redis"):
        print("recflow: Prefect messaging through Redis (several API servers)", flush=True)
    if install_immediate_writes():
        print(
            "recflow: SQLite write transactions of this Prefect server begin IMMEDIATE", flush=True
        )
    else:
        print(
            "recflow: warning: this Prefect has no SQLite begin hook; writes stay DEFERRED",
            flush=True,
        )
    from prefect.cli import app

    sys.argv = [sys.argv[0], "server", "start", *args]
    app()


if __name__ == "__main__":
    main()
