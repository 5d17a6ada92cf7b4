"""`recflow worker`: a long-lived process that executes flow runs in-process.

Why not `flow.serve()` or a process work pool: both start a fresh Python process per flow run,
which tops out near 0.85 runs/s on two cores (testing.md). This worker runs each flow as one
asyncio task inside a process that imported everything once, with one Prefect client for its
whole life. Run several workers (on several machines) against one catalog and one Prefect API to
scale out.

Loops, all in one event loop:
- claim: claim ready work items (recordings, SMS: flows.registry.WORK_KINDS) in the catalog —
  the claim is the gate — and run each one's flow as a plain ``await flow(...)``, so each item
  gets exactly one flow run, created by the engine when the call starts (flows/dispatch.py);
  also hands items of dead workers out again (lease = heartbeat age);
- deployments: poll the served deployments for due runs created in Prefect (schedules, the UI,
  `prefect deployment run`) and take each by proposing ``Pending``;
- schedules: re-register deployments whose schedules changed in the catalog;
- heartbeat: prove to the other workers that this one's claims are alive;
- settle: give runs that a dead worker left Running after finishing their item the final state
  the catalog holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from catalog.repository import Catalog
from catalog.work_items import Claim
from flows import metrics
from flows.dispatch import HandedBack, RunFactory, WorkKind
from flows.registry import DEPLOYMENTS, WORK_KINDS
from services.runtime import use_catalog, worker_id

log = logging.getLogger("recflow.worker")


@dataclass
class WorkerOptions:
    concurrency: int = 4
    lease_seconds: float = 30.0
    poll_seconds: float = 2.0  # deployment runs (schedules, Prefect UI, `deployment run`)
    sweep_seconds: float = 0.5  # idle: how often the catalog is asked for ready work items
    shutdown_grace_seconds: float = 20.0
    schedule_sync_seconds: float = 15.0
    dispatch: bool = True  # claim work items (every worker may; claims make it safe)
    metrics_port: int = 0  # Prometheus metrics on 127.0.0.1:PORT (flows/metrics.py); 0 = off
    # create each item's flow run named, in one request (flows.dispatch.RunFactory); False:
    # let the engine create and rename it (the earlier path: benchmarks/pipeline.py compares)
    named_runs: bool = True


@dataclass
class WorkerStats:
    started: int = 0
    completed: int = 0
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
    try:
        schedules = spec.schedules(catalog) if spec.schedules else None
    except ValueError as e:
        # a schedule Prefect refuses is a configuration error, not an unreachable API: serve
        # the deployment without schedules and say what to fix (config apply refuses these)
        log.error("config error: schedules of %s: %s; serving it unscheduled", name, e)
        schedules = None
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
        try:
            fingerprint = schedule_fingerprint(spec.schedules(catalog))
        except ValueError as e:
            fingerprint = f"error: {e}"
        if applied.get(name) != fingerprint:
            _, _, applied[name] = await register_deployment(name, catalog)
            changed.append(name)
    return changed


_RESULT_STORAGE_TTL = 60.0


def install_client_fixes() -> bool:
    """Per-run client costs of Prefect's engine that a long-lived worker need not pay.

    Each flow run asks the server for its default result storage block
    (``prefect.results._read_server_default_result_storage_block_id``) through a *new* blocking
    client, which builds a TLS context (loading the CA bundle: ~60–120 ms CPU) although the API
    is plain ``http://`` on loopback. The answer changes only when someone configures a server
    default, so it is cached for a minute per process. Our flows persist no results anyway.
    Pinned by tests/flows/test_worker_client_fixes.py; returns False when Prefect lacks the hook.
    """
    import time

    from prefect import results

    original = getattr(results, "_read_server_default_result_storage_block_id", None)
    if original is None:
        return False
    if getattr(original, "_recflow_cached", False):
        return True
    cache: dict[str, Any] = {}

    def cached() -> Any:
        now = time.monotonic()
        if "value" not in cache or now - cache["at"] > _RESULT_STORAGE_TTL:
            cache["value"], cache["at"] = original(), now
        return cache["value"]

    cached._recflow_cached = True  # type: ignore[attr-defined]
    cached.__wrapped__ = original  # type: ignore[attr-defined]
    results._read_server_default_result_storage_block_id = cached  # type: ignore[attr-defined]
    return True


def _handed_back(error: BaseException | None) -> bool:
    """The run's body handed its item back (the engine may raise a later error of its own
    instead, e.g. when it could not record the run's Failed state either)."""
    for _ in range(10):
        if error is None:
            return False
        if isinstance(error, HandedBack):
            return True
        error = error.__context__
    return False


class Worker:
    def __init__(self, catalog: Catalog, options: WorkerOptions) -> None:
        self.catalog = catalog
        use_catalog(catalog)
        self.options = options
        self.stats = WorkerStats()
        self.kinds = list(WORK_KINDS)
        self._free = options.concurrency
        self._wake = asyncio.Event()
        self._released: set[str] = set()  # claims given back: their run may exist unattached
        self._tasks: set[asyncio.Task[None]] = set()
        self.ready = asyncio.Event()
        self._applied_schedules: dict[str, str] = {}
        self._runs = RunFactory()

    async def run(self, stop: asyncio.Event) -> None:
        from prefect.context import AsyncClientContext

        install_client_fixes()
        if self.options.metrics_port:
            metrics.serve(self.options.metrics_port, self.catalog, self.kinds)
        self.catalog.heartbeat(worker_id())
        if not await self._wait_for_api(stop):
            return
        # one Prefect client for the whole life of the worker: every flow run started in this
        # process (a plain `await flow(...)`) reuses it instead of building its own
        async with AsyncClientContext.get_or_create() as client_ctx:
            client = client_ctx.client
            self._runs.skip_redundant_policy_sync(client)
            served = await self._register(client, stop)
            if served is None:
                return
            self.ready.set()
            loops = [
                asyncio.create_task(self._heartbeat_loop(stop)),
                asyncio.create_task(self._deployment_loop(client, served, stop)),
            ]
            if self.options.dispatch:
                loops.append(asyncio.create_task(self._claim_loop(client, stop)))
                loops.append(asyncio.create_task(self._schedule_loop(stop)))
                loops.append(asyncio.create_task(self._settle_loop(client, stop)))
            await stop.wait()
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._drain()
        self.catalog.retire_worker(worker_id())

    async def _wait_for_api(self, stop: asyncio.Event) -> bool:
        """Wait until the Prefect API answers (entering the long-lived client context checks
        the API version and fails when it is down). False when stopped first."""
        from prefect.client.orchestration import get_client

        delay = 1.0
        while not stop.is_set():
            try:
                async with get_client() as client:
                    error = await client.api_healthcheck()
                if error is None:
                    return True
            except Exception as e:
                error = e
            log.warning("Prefect API not ready (%s); retrying in %.0fs", error, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 15.0)
        return False

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

    # ------------------------------------------------------------------ work items

    async def _claim_loop(self, client: Any, stop: asyncio.Event) -> None:
        """Claim ready work items in the catalog as slots free up, and run each one's flow.

        Idle, the catalog is asked every ``sweep_seconds``; a finishing run wakes the loop at
        once. Every ``lease_seconds / 4`` items of dead workers are handed out again."""
        from flows.dispatch import reclaim_orphans

        loop = asyncio.get_running_loop()
        next_reclaim = 0.0
        backoff = 0.0
        while not stop.is_set():
            self._wake.clear()
            claimed = 0
            try:
                if loop.time() >= next_reclaim:
                    next_reclaim = loop.time() + self.options.lease_seconds / 4
                    reclaim_orphans(self.catalog, self.kinds, self.options.lease_seconds)
                for kind in self.kinds:
                    if self._free <= 0:
                        break
                    for claim in kind.queue.claim_next(self.catalog.db, worker_id(), self._free):
                        self._start(kind, claim, client)
                        claimed += 1
                backoff = 0.0
            except Exception as e:  # catalog down: keep going, the rows wait
                backoff = min(max(backoff * 2, 1.0), 15.0)
                log.warning("claiming work failed (will retry in %.0fs): %s", backoff, e)
            if claimed and self._free > 0:
                continue  # more may be waiting
            wait = backoff or self.options.sweep_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _slot_freed(self, key: str) -> None:
        """A run (an item's or a deployment's) ended, however it ended: its slot is free."""
        self.stats.finished += 1
        metrics.ACTIVE.dec()
        self.stats.running.discard(key)
        self._free += 1
        self._wake.set()

    def _start(self, kind: WorkKind, claim: Claim, client: Any) -> None:
        self._free -= 1
        task = asyncio.create_task(self._run_item(kind, claim, client))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_item(self, kind: WorkKind, claim: Claim, client: Any) -> None:
        from flows.dispatch import remove_lost_run, remove_unattached_runs

        key = f"{kind.name}:{claim.id}"
        self.stats.running.add(key)
        self.stats.started += 1
        metrics.STARTED.labels(kind.name).inc()
        metrics.ACTIVE.inc()
        ok = False
        error: Exception | None = None
        try:
            await remove_lost_run(client, claim)
            if claim.attempt > 0 or key in self._released:
                # an earlier attempt (or a released claim) may have created a run that never
                # attached to the claim (killed between claim and attach): find it by name
                self._released.discard(key)
                await remove_unattached_runs(client, kind, claim.id)
            flow = kind.load_flow()
            parameters = {kind.param: claim.id, "attempt": claim.attempt}
            if self.options.named_runs:
                from prefect.flow_engine import run_flow_async

                run = await self._runs.create(client, kind, flow, parameters, claim.id)
                await run_flow_async(self._runs.unnamed(flow), flow_run=run, parameters=parameters)
            else:
                await flow(**parameters)
            ok = True
            self.stats.completed += 1
            metrics.COMPLETED.labels(kind.name).inc()
        except Exception as e:
            error = e
            self.stats.failed += 1
            metrics.FAILED.labels(kind.name).inc()
            log.warning("%s %s: run failed: %s: %s", kind.name, claim.id, type(e).__name__, e)
        finally:
            try:
                if not ok:
                    await self._after_failed_run(kind, claim, client, error)
            finally:
                self._slot_freed(key)

    async def _after_failed_run(
        self, kind: WorkKind, claim: Claim, client: Any, error: Exception | None
    ) -> None:
        """What a run that did not complete leaves behind. A claim still held means the flow
        never reached its body (Prefect down when the run was created or started): give it
        back, same attempt. A claim handed back by the body (a transient failure of the
        platform: flows.dispatch.HandedBack) is ready under the next attempt already. Either
        way slow down, the API or the catalog is in trouble. An item done in the catalog whose
        run Prefect did not hear finish gets its final state once the API is back.

        The catalog may be away too: the give-back is tried again until it answers, or the
        item would stay held by this live worker, which no lease ever hands out again."""
        from flows.dispatch import settle_finished_run

        key = f"{kind.name}:{claim.id}"
        db = self.catalog.db
        delay = 1.0
        while True:
            try:
                released = kind.queue.release(db, claim.id, claim.attempt, worker_id())
                run_id = None if released else kind.queue.done_run(db, claim.id, claim.attempt)
                break
            except Exception as e:
                log.warning("%s: cannot give the claim back yet (%s); retrying", key, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
        if released:
            log.warning("%s %s: run did not start; claim released", kind.name, claim.id)
            self._released.add(key)
        if run_id:
            task = asyncio.create_task(settle_finished_run(client, run_id, key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if released or _handed_back(error):
            await asyncio.sleep(min(5.0, self.options.sweep_seconds * 4))

    async def _settle_loop(self, client: Any, stop: asyncio.Event) -> None:
        """Every half lease: runs a dead worker left Running after finishing their item in the
        catalog get the catalog's final state (flows.dispatch.settle_abandoned_runs)."""
        from flows.dispatch import settle_abandoned_runs

        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.lease_seconds / 2)
            if stop.is_set():
                return
            try:
                await settle_abandoned_runs(
                    client, self.catalog, self.kinds, self.options.lease_seconds
                )
            except Exception as e:  # Prefect or the catalog away: next time
                log.warning("settling runs of dead workers failed (will retry): %s", e)

    # ------------------------------------------------------------------ deployment runs

    async def _schedule_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.schedule_sync_seconds)
            try:
                for name in await sync_schedules(self.catalog, self._applied_schedules):
                    log.info("schedules of %s changed; deployment updated", name)
            except Exception as e:
                log.warning("schedule sync failed (will retry): %s", e)

    async def _deployment_loop(
        self, client: Any, served: dict[UUID, Any], stop: asyncio.Event
    ) -> None:
        """Runs created in Prefect (schedules, the UI, `prefect deployment run`): poll every
        ``poll_seconds`` and take each due run by proposing Pending.

        Only runs read as Scheduled in this very poll are proposed, one poll at a time, so a run
        finished meanwhile by another worker is never taken again. Polling is rare on purpose:
        each poll is also a write on the Prefect server (it records the deployment was polled)."""
        while not stop.is_set():
            if self._free > 0:
                for run in await self._poll(client, list(served)):
                    if self._free <= 0:
                        break
                    if run.deployment_id in served and await self._take(client, run):
                        self._free -= 1
                        task = asyncio.create_task(self._execute(served[run.deployment_id], run))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.poll_seconds)

    async def _poll(self, client: Any, deployment_ids: list[UUID]) -> list[Any]:
        from prefect.types._datetime import now as prefect_now

        try:
            runs = await client.get_scheduled_flow_runs_for_deployments(
                deployment_ids,
                scheduled_before=prefect_now("UTC"),
                limit=max(1, self._free),
            )
        except Exception as e:
            log.warning("cannot read scheduled runs (will retry): %s", e)
            return []
        return [r for r in runs if r.state is not None and r.state.is_scheduled()]

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
        metrics.STARTED.labels("deployment").inc()
        metrics.ACTIVE.inc()
        try:
            state = await run_flow_async(
                flow, flow_run=run, parameters=run.parameters, return_type="state"
            )
            if state is not None and not state.is_completed():
                self.stats.failed += 1
                metrics.FAILED.labels("deployment").inc()
            else:
                metrics.COMPLETED.labels("deployment").inc()
        except Exception as e:
            self.stats.failed += 1
            metrics.FAILED.labels("deployment").inc()
            log.error("flow run %s (%s) crashed in the engine: %s", run_id, run.name, e)
        finally:
            self._slot_freed(run_id)

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
    """Flow runs at a time. With its write transactions IMMEDIATE (recflow/prefect_server.py)
    the embedded SQLite server queues writers instead of failing them, so it takes as many
    concurrent runs as PostgreSQL; more than ~8 only adds queueing on 2 cores
    (docs/benchmarks.md)."""
    return 8 if prefect_backend == "sqlite" else 10


def serve(concurrency: int = 0, *, dispatch: bool = True, metrics_port: int = 0) -> None:
    """Run a worker in this process until SIGINT/SIGTERM (``recflow worker`` execs into this)."""
    import os
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
        metrics_port=metrics_port,
    )
    w = Worker(Catalog.open(cfg), options)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        api = os.environ.get("PREFECT_API_URL", "")
        log.info("worker %s: concurrency %d, Prefect %s", os.getpid(), n, api)
        await w.run(stop)

    asyncio.run(main())


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m flows.worker", description=serve.__doc__)
    parser.add_argument("--concurrency", type=int, default=0, help="flow runs at a time (0 = auto)")
    parser.add_argument("--no-dispatch", action="store_true", help="only execute, do not claim")
    parser.add_argument("--metrics-port", type=int, default=0, help="Prometheus on 127.0.0.1:PORT")
    args = parser.parse_args()
    serve(args.concurrency, dispatch=not args.no_dispatch, metrics_port=args.metrics_port)
