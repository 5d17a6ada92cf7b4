"""`recflow worker`: a long-lived process that executes flow runs in-process.

Why not `flow.serve()` or a process work pool: both start a fresh Python process per flow run,
which tops out near 0.85 runs/s on two cores (testing.md). This worker keeps Prefect's own
machinery — deployments, scheduled flow runs, state orchestration (a run is taken by proposing
``Pending``; Prefect rejects a second taker), the UI — and only replaces "one process per run" with
"one asyncio task per run" inside a process that imported everything once. Run several workers
(on several machines) against one Prefect API to scale out.

Loops, all in one event loop:
- execute: poll the served deployments for due scheduled runs, take up to ``concurrency`` of them;
- sweep: hand captured catalog rows to Prefect (flows.dispatch and the features' SWEEPS) and
  reclaim recordings from dead workers;
- heartbeat: prove to the other workers that this one's claims are alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from catalog.repository import Catalog
from flows.registry import DEPLOYMENTS, sweeps
from services.runtime import set_dispatch_window, use_catalog, use_local_run_queue, worker_id

log = logging.getLogger("recflow.worker")


@dataclass
class WorkerOptions:
    concurrency: int = 4
    lease_seconds: float = 30.0
    poll_seconds: float = 2.0  # runs created elsewhere; our dispatcher hands its runs over
    sweep_seconds: float = 1.0
    shutdown_grace_seconds: float = 20.0
    schedule_sync_seconds: float = 15.0
    dispatch: bool = True  # run the catalog sweeps (every worker may; claims make it safe)


@dataclass
class WorkerStats:
    started: int = 0
    finished: int = 0
    failed: int = 0
    rejected: int = 0
    running: set[str] = field(default_factory=set)


def schedule_fingerprint(schedules: list[Any] | None) -> str:
    """What makes two schedule lists the same; `anchor_date` defaults to "now" for cron
    schedules, so it is left out or every comparison would differ."""
    return repr(
        [
            {k: v for k, v in vars(s).items() if k != "anchor_date"}
            if hasattr(s, "__dict__")
            else s
            for s in schedules or []
        ]
    )


async def register_deployment(name: str, catalog: Catalog) -> tuple[UUID, Any, str]:
    """Create or update one deployment (with its current schedules)."""
    spec = DEPLOYMENTS[name]
    flow = spec.load_flow()
    schedules = spec.schedules(catalog) if spec.schedules else None
    deployment = await flow.ato_deployment(
        name=spec.name,
        description=spec.description or None,
        tags=list(spec.tags) or None,
        schedules=schedules or None,
    )
    dep_id = await deployment.aapply()
    log.info("serving deployment %s/%s (%s)", name, spec.name, dep_id)
    return dep_id, flow, schedule_fingerprint(schedules)


async def register_deployments(
    client: Any, catalog: Catalog, applied: dict[str, str] | None = None
) -> dict[UUID, Any]:
    """Create or update every deployment in the registry; returns deployment id -> flow and
    records each deployment's schedule fingerprint in ``applied``."""
    served: dict[UUID, Any] = {}
    for name in DEPLOYMENTS:
        dep_id, flow, fingerprint = await register_deployment(name, catalog)
        served[dep_id] = flow
        if applied is not None:
            applied[name] = fingerprint
    return served


async def sync_schedules(catalog: Catalog, applied: dict[str, str]) -> list[str]:
    """Re-register deployments whose schedules changed in the catalog (`config apply` adds an
    archive destination, changes a cron); returns the names re-registered."""
    changed = []
    for name, spec in DEPLOYMENTS.items():
        if spec.schedules is None:
            continue
        fingerprint = schedule_fingerprint(spec.schedules(catalog))
        if applied.get(name) != fingerprint:
            _, _, applied[name] = await register_deployment(name, catalog)
            changed.append(name)
    return changed


class Worker:
    def __init__(self, catalog: Catalog, options: WorkerOptions) -> None:
        self.catalog = catalog
        use_catalog(catalog)
        set_dispatch_window(2 * options.concurrency + 2)
        self.options = options
        self.stats = WorkerStats()
        self._slots = asyncio.Semaphore(options.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.ready = asyncio.Event()
        self._applied_schedules: dict[str, str] = {}

    async def run(self, stop: asyncio.Event) -> None:
        from prefect.client.orchestration import get_client

        self.catalog.heartbeat(worker_id())
        async with get_client() as client:
            served = await self._register(client, stop)
            if served is None:
                return
            self.ready.set()
            loops = [
                asyncio.create_task(self._heartbeat_loop(stop)),
                asyncio.create_task(self._execute_loop(client, served, stop)),
            ]
            if self.options.dispatch:
                loops.append(asyncio.create_task(self._sweep_loop(client, stop)))
                loops.append(asyncio.create_task(self._schedule_loop(stop)))
            await stop.wait()
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            use_local_run_queue(None)
            await self._drain()
        self.catalog.retire_worker(worker_id())

    async def _register(self, client: Any, stop: asyncio.Event) -> dict[UUID, Any] | None:
        """Register deployments, waiting for the Prefect API if it is not up yet."""
        delay = 1.0
        while not stop.is_set():
            try:
                return await register_deployments(client, self.catalog, self._applied_schedules)
            except Exception as e:
                log.warning("Prefect API not ready (%s); retrying in %.0fs", e, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 15.0)
        return None

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.catalog.heartbeat, worker_id())
            except Exception as e:  # a catalog hiccup must not kill the worker
                log.warning("heartbeat failed: %s", e)
            await asyncio.sleep(self.options.lease_seconds / 4)

    async def _sweep_loop(self, client: Any, stop: asyncio.Event) -> None:
        from flows.dispatch import reclaim_orphans

        functions = sweeps()
        reclaim_every = max(1, int(self.options.lease_seconds / 4 / self.options.sweep_seconds))
        tick = 0
        while not stop.is_set():
            try:
                for sweep in functions:
                    await sweep(self.catalog, client)
                if tick % reclaim_every == 0:
                    await reclaim_orphans(self.catalog, client, self.options.lease_seconds)
            except Exception as e:  # Prefect down: keep the rows, try again next tick
                log.warning("dispatch sweep failed (will retry): %s", e)
            tick += 1
            await asyncio.sleep(self.options.sweep_seconds)

    async def _schedule_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.schedule_sync_seconds)
            try:
                for name in await sync_schedules(self.catalog, self._applied_schedules):
                    log.info("schedules of %s changed; deployment updated", name)
            except Exception as e:
                log.warning("schedule sync failed (will retry): %s", e)

    async def _execute_loop(
        self, client: Any, served: dict[UUID, Any], stop: asyncio.Event
    ) -> None:
        """Take runs as slots free up: first the runs this process's dispatcher just created
        (handed over in memory, no polling), then, every ``poll_seconds``, runs created
        elsewhere (schedules, the Prefect UI, other dispatchers).

        Polling is kept rare on purpose: each poll of scheduled runs is also a write on the
        Prefect server (it records that the deployment was polled), and on SQLite every write
        competes with run creation for the database lock."""
        local: asyncio.Queue[Any] = asyncio.Queue()
        use_local_run_queue(local)
        polled: list[Any] = []
        next_poll = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            await self._slots.acquire()
            taken = False
            try:
                run = None
                if not polled:
                    wait = next_poll - loop.time()
                    if wait > 0:
                        with contextlib.suppress(TimeoutError):
                            run = await asyncio.wait_for(local.get(), wait)
                    if run is None:
                        next_poll = loop.time() + self.options.poll_seconds
                        polled = await self._poll(client, list(served))
                if run is None and polled:
                    run = polled.pop(0)
                if (
                    run is not None
                    and run.deployment_id in served
                    and str(run.id) not in self.stats.running
                    and await self._take(client, run)
                ):
                    task = asyncio.create_task(self._execute(served[run.deployment_id], run))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    taken = True
            finally:
                if not taken:
                    self._slots.release()

    async def _poll(self, client: Any, deployment_ids: list[UUID]) -> list[Any]:
        from prefect.types._datetime import now as prefect_now

        try:
            return list(
                await client.get_scheduled_flow_runs_for_deployments(
                    deployment_ids,
                    scheduled_before=prefect_now("UTC"),
                    limit=self.options.concurrency,
                )
            )
        except Exception as e:
            log.warning("cannot read scheduled runs (will retry): %s", e)
            return []

    async def _take(self, client: Any, run: Any) -> bool:
        from prefect.states import Pending
        from prefect.utilities.engine import propose_state

        try:
            state = await propose_state(client, Pending(), flow_run_id=run.id)
        except Exception as e:  # Abort: another worker took it first
            log.debug("run %s not taken: %s", run.id, e)
            self.stats.rejected += 1
            return False
        if not state.is_pending():
            self.stats.rejected += 1
            return False
        return True

    async def _execute(self, flow: Any, run: Any) -> None:
        from prefect.flow_engine import run_flow_async

        run_id = str(run.id)
        self.stats.running.add(run_id)
        self.stats.started += 1
        try:
            state = await run_flow_async(
                flow, flow_run=run, parameters=run.parameters, return_type="state"
            )
            if state is not None and not state.is_completed():
                self.stats.failed += 1
        except Exception as e:
            self.stats.failed += 1
            log.error("flow run %s (%s) crashed in the engine: %s", run_id, run.name, e)
        finally:
            self.stats.finished += 1
            self.stats.running.discard(run_id)
            self._slots.release()

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("waiting for %d running flow(s) to finish", len(self._tasks))
        grace = self.options.shutdown_grace_seconds
        _done, pending = await asyncio.wait(self._tasks, timeout=grace)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def default_concurrency(prefect_backend: str | None) -> int:
    """SQLite behind the Prefect API answers `database is locked` with only 3 concurrent
    flow-run writers (testing.md), so the embedded default runs one flow at a time;
    PostgreSQL takes ten at a time."""
    return 1 if prefect_backend == "sqlite" else 10


def serve(concurrency: int = 0, *, dispatch: bool = True) -> None:
    """Run a worker in this process until SIGINT/SIGTERM (``recflow worker`` execs into this)."""
    import signal

    from catalog.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("httpx", "alembic", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    cfg = get_settings()
    backend = os.environ.get("RECFLOW_PREFECT_BACKEND")
    n = concurrency or cfg.worker_concurrency or default_concurrency(backend)
    options = WorkerOptions(
        concurrency=n,
        lease_seconds=cfg.worker_lease_seconds,
        sweep_seconds=cfg.dispatch_interval_seconds,
        dispatch=dispatch,
    )
    w = Worker(Catalog.open(cfg), options)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "worker %s: concurrency %d, Prefect %s", os.getpid(), n, os.environ["PREFECT_API_URL"]
        )
        await w.run(stop)

    asyncio.run(main())


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m flows.worker", description=serve.__doc__)
    parser.add_argument("--concurrency", type=int, default=0, help="flow runs at a time (0 = auto)")
    parser.add_argument("--no-dispatch", action="store_true", help="only execute, do not sweep")
    args = parser.parse_args()
    serve(args.concurrency, dispatch=not args.no_dispatch)
