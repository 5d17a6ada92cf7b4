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
undoing this. Run as ``python -m recflow.prefect_server [prefect server start options]``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

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
