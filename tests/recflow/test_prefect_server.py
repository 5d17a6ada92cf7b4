"""The embedded Prefect server's SQLite write transactions (recflow/prefect_server.py), tested
against Prefect's own database configuration class, so a Prefect upgrade that changes what the
change relies on fails here.

Pinned: (1) stock Prefect still starts write transactions ``BEGIN DEFERRED`` through
``AioSqliteConfiguration.begin_transaction`` + ``SQLITE_BEGIN_MODE`` (if Prefect starts them
IMMEDIATE itself, or drops the hook, revisit the patch); (2) with a deferred transaction the
read-then-write race fails with ``database is locked`` at once (the reason for the patch);
(3) patched, the same race queues behind the lock and both writers succeed; (4) reads stay
outside explicit transactions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prefect.server.database import configurations as cfg

from recflow import prefect_server


def _stock_begin() -> Any:
    prefect_server.install_immediate_writes()  # idempotent; keeps Prefect's own method
    return prefect_server.original_begin_transaction


async def _engine(tmp_path: Path) -> tuple[Any, Any, list[str]]:
    conf = cfg.AioSqliteConfiguration(
        connection_url=f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}", timeout=30
    )
    engine = await conf.engine()
    statements: list[str] = []

    @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        statements.append(statement.strip().upper())

    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    return conf, engine, statements


def test_stock_prefect_begins_writes_deferred_through_the_hook_we_replace(tmp_path):
    assert hasattr(cfg, "SQLITE_BEGIN_MODE"), "Prefect dropped SQLITE_BEGIN_MODE: revisit"
    stock = _stock_begin()
    assert stock is not None and stock is not cfg.AioSqliteConfiguration.begin_transaction

    async def main() -> list[str]:
        conf, engine, statements = await _engine(tmp_path)
        session = await conf.session(engine)
        async with stock(conf, session):
            await session.execute(sa.text("INSERT INTO t (v) VALUES ('x')"))
        await session.close()
        await engine.dispose()
        return statements

    assert "BEGIN DEFERRED" in asyncio.run(main())


async def _read_then_write_race(
    conf: Any, engine: Any, statements: list[str], begin: Any, t2_blocks: bool
) -> None:
    """t1 reads inside a write transaction, t2 writes meanwhile, t1 then writes. ``t2_blocks``:
    t2's BEGIN waits for t1's lock (immediate) instead of committing at once (deferred)."""
    s1, s2 = await conf.session(engine), await conf.session(engine)
    t2_done = asyncio.Event()

    async def t2() -> None:
        async with begin(conf, s2):
            await s2.execute(sa.text("INSERT INTO t (v) VALUES ('t2')"))
        t2_done.set()

    try:
        async with begin(conf, s1):
            await s1.execute(sa.text("SELECT count(*) FROM t"))
            task = asyncio.create_task(t2())
            if t2_blocks:  # wait until t2 has issued its BEGIN (it then waits on our lock)
                while statements.count("BEGIN IMMEDIATE") < 2:
                    await asyncio.sleep(0.01)
                assert not t2_done.is_set()
            else:  # t2 commits while we hold only a read snapshot
                await t2_done.wait()
            await s1.execute(sa.text("INSERT INTO t (v) VALUES ('t1')"))
        await task
    finally:
        await s1.close()
        await s2.close()


def test_deferred_write_transactions_fail_on_the_read_then_write_race(tmp_path):
    stock = _stock_begin()

    async def main() -> None:
        conf, engine, statements = await _engine(tmp_path)
        try:
            await _read_then_write_race(conf, engine, statements, stock, t2_blocks=False)
        finally:
            await engine.dispose()

    with pytest.raises(sa.exc.OperationalError, match="locked"):
        asyncio.run(main())


def test_immediate_write_transactions_queue_instead_of_failing(tmp_path):
    assert prefect_server.install_immediate_writes()
    patched = cfg.AioSqliteConfiguration.begin_transaction

    async def main() -> tuple[list[str], list[str]]:
        conf, engine, statements = await _engine(tmp_path)
        try:
            await _read_then_write_race(conf, engine, statements, patched, t2_blocks=True)
            async with engine.connect() as conn:
                rows = [r[0] for r in await conn.exec_driver_sql("SELECT v FROM t ORDER BY id")]
            return rows, statements
        finally:
            await engine.dispose()

    rows, statements = asyncio.run(main())
    assert rows == ["t1", "t2"], "both writers succeed, in lock order"
    assert "BEGIN DEFERRED" not in statements
    assert statements.count("BEGIN IMMEDIATE") == 2


def test_reads_without_a_write_transaction_begin_nothing(tmp_path):
    prefect_server.install_immediate_writes()

    async def main() -> list[str]:
        conf, engine, statements = await _engine(tmp_path)
        statements.clear()
        session = await conf.session(engine)
        await session.execute(sa.text("SELECT count(*) FROM t"))
        await session.close()
        await engine.dispose()
        return statements

    assert not [s for s in asyncio.run(main()) if s.startswith("BEGIN")]


def test_the_embedded_server_starts_with_immediate_writes(tmp_path):
    from tests.support import PrefectServer, http_ok

    server = PrefectServer(tmp_path / "prefect").start()
    try:
        assert http_ok(f"{server.api_url}/health")
        log = (tmp_path / "prefect" / "server.log").read_text()
        assert "write transactions of this Prefect server begin IMMEDIATE" in log
    finally:
        server.stop()
