"""The dispatcher: every captured recording becomes exactly one successful flow run.

Guarantees, and where each comes from:
- *Nothing lost*: capture writes the file and a ``captured`` row before anything else; this sweep
  keeps offering ``captured`` rows to Prefect until Prefect accepts them, so an API outage only
  delays processing.
- *Nothing twice*: the flow run is created with ``idempotency_key = <recording id>:<attempt>``,
  so a second announcement (two dispatchers, a crash between "run created" and "row updated")
  returns the same run; the worker claims the recording with a compare-and-set in the catalog,
  and only the claim holder can mark it processed.
- *Crashes*: a worker that stops heartbeating loses its claims; ``reclaim_orphans`` marks its
  flow runs Crashed in Prefect and hands the recording out again under the next attempt number.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from catalog.models import RecordingStatus, utcnow

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

    from catalog.repository import Catalog

log = logging.getLogger("recflow.dispatch")

PROCESS_RECORDING = "process-recording"


class DeploymentIds:
    """Deployment ids by flow name, read once per process."""

    def __init__(self) -> None:
        self._ids: dict[str, Any] = {}

    async def get(self, client: PrefectClient, flow_name: str) -> Any:
        from flows.registry import deployment_full_name

        if flow_name not in self._ids:
            dep = await client.read_deployment_by_name(deployment_full_name(flow_name))
            self._ids[flow_name] = dep.id
        return self._ids[flow_name]


_deployments = DeploymentIds()


async def announce(client: PrefectClient, catalog: Catalog, recording_id: str) -> str | None:
    """Hand one captured recording to Prefect; returns the flow run id, or None if it is not
    (or no longer) in the ``captured`` state."""
    rec = catalog.get_recording(recording_id)
    if rec is None or rec.status is not RecordingStatus.captured:
        return None
    dep_id = await _deployments.get(client, PROCESS_RECORDING)
    run = await client.create_flow_run_from_deployment(
        dep_id,
        parameters={"recording_id": rec.id, "attempt": rec.attempt},
        idempotency_key=f"{PROCESS_RECORDING}:{rec.id}:{rec.attempt}",
        name=rec.title,
        tags=["recording"],
    )
    if catalog.mark_dispatched(rec.id, rec.attempt, str(run.id)):
        from services.runtime import offer_run

        offer_run(run)
    return str(run.id)


async def dispatch_captured_recordings(catalog: Catalog, client: PrefectClient) -> int:
    """One sweep: announce captured recordings, oldest first, keeping at most the dispatch
    window of runs waiting in Prefect.

    The backlog of a burst waits in the catalog, not as scheduled runs: a pile of scheduled runs
    makes Prefect's late-runs service rewrite each of them, which on the embedded SQLite server
    means `database is locked` and client back-off for every other call."""
    from services.runtime import dispatch_window

    budget = dispatch_window() - catalog.count_status(RecordingStatus.dispatched)
    n = 0
    if budget <= 0:
        return 0
    for rec in catalog.pending_dispatch(limit=budget):
        if await announce(client, catalog, rec.id):
            n += 1
    return n


async def reclaim_orphans(catalog: Catalog, client: PrefectClient, lease_seconds: float) -> int:
    """Recordings whose worker died: crash their runs in Prefect, hand them out again.

    Two cases: a claim held by a worker that stopped heartbeating, and a run that was
    dispatched long ago but whose Prefect state says it is no longer waiting to be picked up
    (e.g. it was Pending on a worker that died before claiming it)."""
    from prefect.states import Crashed

    n = 0
    for rec in catalog.orphaned_claims(lease_seconds):
        if rec.flow_run_id:
            try:
                await client.set_flow_run_state(
                    rec.flow_run_id,
                    Crashed(message="worker stopped heartbeating; recording handed out again"),
                    force=True,
                )
            except Exception as e:  # the run may be gone; the catalog decides anyway
                log.warning("could not mark flow run %s crashed: %s", rec.flow_run_id, e)
        if catalog.requeue(rec.id, from_statuses={RecordingStatus.processing}) is not None:
            log.warning("recording %s: worker lost, handed out again", rec.id)
            n += 1
    cutoff = utcnow() - timedelta(seconds=lease_seconds)
    for rec in catalog.stale_dispatched(cutoff):
        state = None
        if rec.flow_run_id:
            try:
                state = (await client.read_flow_run(rec.flow_run_id)).state
            except Exception:
                state = None
        if state is not None and (state.is_scheduled() or state.is_running()):
            continue  # still queued (worker busy) or running under a live claim
        if state is not None and state.is_pending():
            await client.set_flow_run_state(
                rec.flow_run_id, Crashed(message="never started; handed out again"), force=True
            )
        if catalog.requeue(rec.id, from_statuses={RecordingStatus.dispatched}) is not None:
            log.warning("recording %s: dispatched run never started, handed out again", rec.id)
            n += 1
    return n
