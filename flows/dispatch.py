"""Claim first, then run: how a captured recording (or a stored SMS) becomes exactly one Completed
flow run.

Guarantees, and where each comes from:
- *Nothing lost*: capture writes the file and a ``captured`` row before anything else; workers
  keep claiming ready rows from the catalog, so a Prefect outage only delays processing.
- *Nothing twice*: the catalog claim is the gate (``catalog.work_items``: a compare-and-set, one
  winner). The worker then runs the flow in-process as a plain call; the flow's first step attaches
  its run id to the claim (:func:`begin`), and only the claim holder can complete the item.
- *One run in Prefect*: no flow run exists before the claim, so no run can be taken twice or left
  Pending. A run whose worker died (lease expired: no heartbeat) is removed from Prefect when the
  item's next attempt runs (:func:`remove_lost_run`), so a processed item shows one Completed run;
  a run whose worker died after finishing the item in the catalog, but before reporting it, gets
  the catalog's verdict from another worker a lease later (:func:`settle_abandoned_runs`).
- *Failures visible, the platform's not the item's*: a run whose body fails records it on the
  item (:func:`fail`); a transient failure of the Prefect API or the catalog (a killed server
  behind the balancer, a reset connection) hands the item back under the next attempt instead
  (:class:`HandedBack`), and a run that never reached its body gives its claim back untouched.
- *On demand*: ``prefect deployment run process-recording/default -p recording_id=<id>`` (and
  Retry on such a run) re-processes the item under a new attempt; it is refused with a clear
  message while a worker holds the item.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from catalog.work_items import HandBack
from services.retry import is_transient
from services.runtime import get_catalog, worker_id

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

    from catalog.work_items import Claim, WorkQueue

log = logging.getLogger("recflow.dispatch")

PROCESS_RECORDING = "process-recording"


class StaleRun(Exception):
    """This run lost its claim (the item was handed out again after a crash, or another run
    already finished it). It must not write results."""


class ClaimRefused(Exception):
    """An on-demand run for an item a worker is processing right now."""


class HandedBack(Exception):
    """This run met a transient failure of the platform (``services.retry.is_transient``: the
    Prefect API or the catalog went away) and handed its item back instead of failing it. Like
    :class:`StaleRun` it says nothing about the item: the item's next attempt removes the run."""


@dataclass(frozen=True)
class WorkKind:
    """One kind of work item: its catalog queue, the flow that processes one item, and the
    flow parameter that carries the item id."""

    name: str
    flow_name: str
    param: str
    flow_path: str
    queue_path: str

    @property
    def queue(self) -> WorkQueue:
        module, attr = self.queue_path.split(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]

    def load_flow(self) -> Any:
        module, attr = self.flow_path.split(":")
        return getattr(importlib.import_module(module), attr)


def begin(kind: WorkKind, item_id: str, attempt: int | None) -> int:
    """First step of a work-item flow: make sure this run holds the item's claim and record the
    run on it; returns the attempt this run works under.

    A run the worker started after claiming (no deployment) attaches itself to that claim. A run
    created through the deployment (Prefect UI, ``prefect deployment run``, Retry) re-processes
    on demand: it claims the item under the next attempt, or is refused while a worker holds it.
    """
    from prefect.context import get_run_context

    run = get_run_context().flow_run  # type: ignore[union-attr]
    run_id = str(run.id) if run else ""
    catalog = get_catalog()
    queue = kind.queue
    on_demand = run is None or run.deployment_id is not None or attempt is None
    if on_demand:
        claim = queue.claim_rerun(catalog.db, item_id, worker_id())
        if claim is None:
            raise ClaimRefused(
                f"{kind.name} {item_id} is missing or being processed by a worker right now; "
                "re-run it once that run has finished"
            )
        attempt = claim.attempt
    assert attempt is not None
    if not queue.attach_run(catalog.db, item_id, attempt, worker_id(), run_id):
        raise StaleRun(f"{kind.name} {item_id} attempt {attempt}: this worker holds no claim")
    return attempt


def finish(kind: WorkKind, item_id: str, attempt: int) -> None:
    if not kind.queue.complete(get_catalog().db, item_id, attempt, worker_id()):
        raise StaleRun(f"{kind.name} {item_id}: claim lost before completion")


def fail(kind: WorkKind, item_id: str, attempt: int, error: BaseException) -> None:
    """Record a failure on the item (visible in `recordings show`, the portal, `--status`).

    A transient failure of the platform (``services.retry.is_transient``: a killed API server
    behind the balancer, a reset connection, the catalog's connection dropped) is not the
    item's: the claim is handed back under the next attempt, the way a dead worker's lease
    hands it out, and :class:`HandedBack` is raised from ``error`` so the run stops there."""
    message = f"{type(error).__name__}: {error}"
    if is_transient(error):
        queue, db = kind.queue, get_catalog().db
        outcome = queue.hand_back(db, item_id, attempt, worker_id(), message)
        if outcome is HandBack.requeued:
            log.warning(
                "%s %s attempt %d: handed back after %s", kind.name, item_id, attempt, message
            )
            raise HandedBack(
                f"{kind.name} {item_id} attempt {attempt}: handed back after {message}"
            ) from error
        if outcome is HandBack.not_held and attempt + 1 < queue.max_attempts:
            raise StaleRun(f"{kind.name} {item_id} attempt {attempt}: claim lost") from error
        # failed for good (gave up, or the last attempt's claim lapsed): the run fails with it
        return
    kind.queue.fail(get_catalog().db, item_id, attempt, message, worker_id())


async def remove_lost_run(client: PrefectClient, claim: Claim) -> None:
    """The item's previous attempt had a run that never finished (its worker died, or Prefect
    went away mid-run): delete it, so Prefect shows one run per processed item, not a stale
    Running/Pending/Crashed one next to the Completed one. A run that ended Failed with StaleRun
    (its worker stalled past the lease, then found the claim gone) goes too: it is not a failure
    of the item. The loss is in the worker log."""
    if not claim.previous_run:
        return
    try:
        run = await client.read_flow_run(UUID(claim.previous_run))
    except Exception:
        return  # gone already (or never created)
    finished = run.state is not None and (
        run.state.is_completed() or run.state.is_failed() or run.state.is_cancelled()
    )
    if finished and not is_superseded(run.state):
        return  # a finished run tells the truth (a failure and its retry); only lost ones go
    state = run.state.type.value if run.state else "no state"
    try:
        await client.delete_flow_run(run.id)
        log.warning("%s: removed flow run %s (%s) of a lost attempt", claim.id, run.id, state)
    except Exception as e:
        log.warning("could not remove lost flow run %s: %s", run.id, e)


def is_superseded(state: Any) -> bool:
    """A run that failed only because its claim was handed to a newer attempt (its worker missed
    the lease: stalled, not dead), or that handed its item back after a transient failure of the
    platform: it says nothing about the item, the newer attempt does."""
    message = state.message or ""
    return bool(
        state.is_failed() and any(f"{e.__name__}:" in message for e in (StaleRun, HandedBack))
    )


def reclaim_orphans(catalog: Any, kinds: list[WorkKind], lease_seconds: float) -> int:
    """Items whose worker stopped heartbeating go back to ready under the next attempt."""
    n = 0
    for kind in kinds:
        for item_id in kind.queue.reclaim_orphans(catalog.db, lease_seconds):
            log.warning("%s %s: worker lost, handed out again", kind.name, item_id)
            n += 1
    return n


async def remove_unattached_runs(client: PrefectClient, kind: WorkKind, item_id: str) -> None:
    """A run created for a claim that was then released (Prefect went away between creating the
    run and the flow body): it never attached to the claim, so find it by its name and delete it
    unless it finished."""
    try:
        runs = await client.read_flow_runs(**_runs_named(kind, [item_id]))
    except Exception as e:
        log.warning("could not look for unattached runs of %s: %s", item_id, e)
        return
    for run in runs:
        if run.state is None or not run.state.is_final():
            try:
                await client.delete_flow_run(run.id)
                log.warning("%s: removed flow run %s that never started its body", item_id, run.id)
            except Exception as e:
                log.warning("could not remove flow run %s: %s", run.id, e)


def run_name(kind: WorkKind, item_id: str) -> str:
    """The name every run of an item carries once its body starts (the flows'
    ``flow_run_name``: ``recording-<id>``, ``sms-<id>``)."""
    return f"{kind.name}-{item_id}"


def _runs_named(kind: WorkKind, item_ids: list[str]) -> dict[str, Any]:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterName,
    )

    return {
        "flow_filter": FlowFilter(name=FlowFilterName(any_=[kind.flow_name])),
        "flow_run_filter": FlowRunFilter(
            name=FlowRunFilterName(any_=[run_name(kind, i) for i in item_ids])
        ),
    }


class RunFactory:
    """Creates a claimed item's flow run in one request, named ``run_name`` from the start.

    A plain ``await flow(...)`` lets the engine create the run: it upserts the flow
    (``POST /flows/``) for every run, creates a randomly named run, and renames it once the body
    starts (``PATCH``). Here the flow id is looked up once per process and the run is born with
    its name: one write less per recording on the Prefect server (the bottleneck on 2 cores,
    docs/benchmarks.md), and a run killed before its body starts still carries the name
    :func:`remove_unattached_runs` looks for. The engine runs it as it runs any pre-created run
    (``run_flow_async(flow_run=...)``, as Prefect's runner does; it syncs the retry policy with
    one ``PATCH``) with the name template switched off, so it does not rename it.
    Pinned by tests/flows/test_worker_client_fixes.py."""

    def __init__(self) -> None:
        self._flow_ids: dict[str, UUID] = {}
        self._unnamed: dict[str, Any] = {}
        self._born: dict[UUID, tuple[Any, Any]] = {}  # run id -> (version, policy) at creation

    def skip_redundant_policy_sync(self, client: PrefectClient) -> None:
        """The engine PATCHes every pre-created run with its flow version and retry policy
        before it starts (``AsyncFlowRunEngine.initialize_run``). A run this factory created
        already carries exactly those, so on this client (the worker's own, long-lived) that
        PATCH is skipped: one server write less per item. Anything else goes through.
        Pinned by tests/flows/test_worker_client_fixes.py."""
        if getattr(client.update_flow_run, "_recflow_skips_sync", False):
            return
        original = client.update_flow_run

        async def update_flow_run(flow_run_id: UUID, **fields: Any) -> Any:
            born = self._born.pop(flow_run_id, None)
            if born is not None and fields == {
                "flow_version": born[0],
                "empirical_policy": born[1],
            }:
                return None  # the engine ignores the response
            return await original(flow_run_id, **fields)

        update_flow_run._recflow_skips_sync = True  # type: ignore[attr-defined]
        client.update_flow_run = update_flow_run  # type: ignore[method-assign]

    async def _flow_id(self, client: PrefectClient, flow: Any) -> UUID:
        from prefect.client.schemas.actions import FlowCreate

        if flow.name not in self._flow_ids:
            body = FlowCreate(name=flow.name).model_dump(mode="json")
            r = await client.request("POST", "/flows/", json=body)
            self._flow_ids[flow.name] = UUID(r.json()["id"])
        return self._flow_ids[flow.name]

    async def create(
        self,
        client: PrefectClient,
        kind: WorkKind,
        flow: Any,
        parameters: dict[str, Any],
        item_id: str,
    ) -> Any:
        import httpx
        from prefect.client.schemas.actions import FlowRunCreate
        from prefect.client.schemas.objects import FlowRun, FlowRunPolicy
        from prefect.states import Pending, to_state_create

        # a request resent after its server died holding it (HAProxy's `retry-on
        # empty-response`, the client's own retries) must not create a second run, left
        # Pending for good next to the Completed one: the key makes the resend find the first
        key = uuid4().hex
        for attempt in (1, 2):
            body = FlowRunCreate(
                flow_id=await self._flow_id(client, flow),
                flow_version=flow.version,
                name=run_name(kind, item_id),
                idempotency_key=key,
                parameters=flow.serialize_parameters(parameters),
                state=to_state_create(Pending()),
                empirical_policy=FlowRunPolicy(
                    retries=flow.retries, retry_delay=int(flow.retry_delay_seconds or 0)
                ),
            ).model_dump(mode="json", exclude_unset=True)
            try:
                r = await client.request("POST", "/flow_runs/", json=body)
            except httpx.HTTPStatusError as e:
                if attempt == 2 or not 400 <= e.response.status_code < 500:
                    raise
                self._flow_ids.pop(flow.name, None)  # the flow was deleted in Prefect: look again
                continue
            run = FlowRun.model_validate(r.json())
            run.parameters = parameters
            if len(self._born) > 10_000:  # runs the engine never started (crashes): forget
                self._born.clear()
            self._born[run.id] = (run.flow_version, run.empirical_policy.model_copy())
            return run
        raise AssertionError("unreachable")

    def unnamed(self, flow: Any) -> Any:
        """``flow`` without its run-name template (the run already has its name) and without
        parameter validation: the worker builds the parameters itself (an item id and an
        attempt number), and validating them builds a pydantic model per call (~2–4 ms of
        worker CPU per run). Runs from the deployment (UI, schedules) keep validation."""
        if flow.name not in self._unnamed:
            import copy

            plain = copy.copy(flow)
            plain.flow_run_name = None
            plain.should_validate_parameters = False
            self._unnamed[flow.name] = plain
        return self._unnamed[flow.name]


async def delete_item_runs(client: PrefectClient, kind: WorkKind, item_ids: list[str]) -> int:
    """Delete every flow run of these items, whatever its state, with the runs' artifacts (the
    deliveries table); Prefect drops their task runs and logs with them. Retention deleted the
    items, so nothing of them may outlive them in Prefect. Runs are found by flow and name, in
    batches; returns how many runs were deleted."""
    from prefect.exceptions import ObjectNotFound

    n = 0
    for start in range(0, len(item_ids), 100):
        named = _runs_named(kind, item_ids[start : start + 100])
        while arts := await client.read_artifacts(flow_run_filter=named["flow_run_filter"]):
            for art in arts:
                await client.delete_artifact(art.id)
        while runs := await client.read_flow_runs(**named, limit=200):
            for run in runs:
                try:
                    await client.delete_flow_run(run.id)
                    n += 1
                except ObjectNotFound:
                    pass  # deleted meanwhile (another retention run)
    return n


async def settle_finished_run(client: PrefectClient, run_id: str, item: str) -> None:
    """The item is done in the catalog but its run's final state never reached Prefect (the API
    went away at the end of the run): record Completed once the API answers again."""
    import asyncio

    from prefect.states import Completed

    delay = 1.0
    for _ in range(40):
        try:
            run = await client.read_flow_run(UUID(run_id))
            if run.state is not None and run.state.is_completed():
                return
            await client.set_flow_run_state(
                UUID(run_id),
                Completed(message="processed; final state recorded after the API came back"),
                force=True,
            )
            log.warning("%s: run %s marked Completed after a Prefect outage", item, run_id)
            return
        except Exception:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)


async def settle_abandoned_runs(
    client: PrefectClient, catalog: Any, kinds: list[WorkKind], lease_seconds: float
) -> int:
    """Runs still Running or Pending in Prefect whose item the catalog holds as finished by that
    very run: the worker wrote the result (the catalog is the system of record) and then died —
    kill -9, power loss — before the engine reported the final state. Once the item has been
    finished for a whole lease (a live worker reports within moments, or settles it itself after
    an API outage: :func:`settle_finished_run`), any worker records the catalog's verdict:
    Completed, or Failed with the recorded reason. Returns how many runs were settled."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Completed, Failed

    from catalog.models import assume_utc, utcnow

    settled = 0
    for kind in kinds:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[kind.flow_name])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
                )
            ),
            limit=200,
        )
        for run in runs:
            item_id = (run.parameters or {}).get(kind.param)
            if not isinstance(item_id, str):
                continue
            finished = kind.queue.finished_run(catalog.db, item_id)
            if finished is None:
                continue
            status, run_id, changed_at, error = finished
            if run_id != str(run.id) or changed_at is None:
                continue  # another attempt's run: the next attempt removes lost ones
            if (utcnow() - assume_utc(changed_at)).total_seconds() < lease_seconds:
                continue  # its worker may still be reporting it
            if status == kind.queue.done.value:
                state = Completed(message="processed; its worker died before reporting it")
            else:
                state = Failed(message=error or "failed; its worker died before reporting it")
            await client.set_flow_run_state(run.id, state, force=True)
            log.warning(
                "%s %s: run %s left %s by a dead worker, marked %s",
                kind.name,
                item_id,
                run.id,
                run.state.type.value if run.state else "without state",
                state.type.value,
            )
            settled += 1
    return settled
