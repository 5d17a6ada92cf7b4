"""A transient failure of the platform never fails a recording; a failure of the recording does.

The scale-out test (tests/recflow/test_scale_out.py) once ended with a recording `failed` at
attempt 0 after one Prefect API server (behind HAProxy) and one worker were killed mid-burst: a
run whose body met the platform going away recorded that as the recording's failure. Here each
such fault is injected exactly, into one in-process worker item run against a real Prefect
server and a real catalog: the Prefect API refusing a connection or answering 502 when the run
is created, started or finished, and the catalog dropping its connection mid-body. Each
recording must end processed with exactly one Completed run; a corrupt recording still fails,
at once, with a Failed run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import exc as sa_exc

from catalog.models import Recording, Speaker, Transcript, TranscriptSegment
from connectors.base import PermanentError
from services import runtime


class Transcriber:
    """One segment per recording, no model; ``fail`` makes it a corrupt file's engine."""

    takes_hints = False

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def transcribe(self, recording: Recording, audio: Any) -> Transcript:
        if self.fail:
            raise PermanentError("unreadable audio: not a WAV file")
        segment = TranscriptSegment(
            speaker=Speaker.caller, channel=0, start=0.0, end=1.0, text="cancel my subscription"
        )
        return Transcript(recording_id=recording.id, engine="fake", segments=[segment])


def _recording(catalog: Any) -> str:
    rec = Recording(from_number="+15550040", to_number="+15550041", started_at=datetime.now(UTC))
    rec.file_key = f"{rec.id}.wav"  # never read: the transcriber is a fake
    catalog.add_recordings([rec])
    return rec.id


def connect_error(request: httpx.Request) -> Exception:
    return httpx.ConnectError("[Errno 111] Connection refused", request=request)


def bad_gateway(request: httpx.Request) -> Exception:
    response = httpx.Response(502, request=request, text="502 Bad Gateway")
    return httpx.HTTPStatusError("502 Bad Gateway", request=request, response=response)


def _process(
    catalog: Any,
    api_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    api_fault: tuple[str, Callable[[httpx.Request], Exception]] | None = None,
    catalog_fault: str | None = None,
    replay: str = "",
    transcriber: Transcriber | None = None,
) -> tuple[str, int, str, list[str]]:
    """Run one recording through a worker's item loop (claim, run, give back or finish) until
    it leaves the ready state, with one fault injected once: ``api_fault`` = (request
    suffix, error) on the first matching Prefect API request; ``catalog_fault`` = a Catalog
    method that raises a dropped connection on its first call; ``replay`` = a request
    suffix whose POSTs reach the server twice (a balancer resending a request whose server
    died after committing it). Returns the recording's
    status, attempt and error, and the states of every run Prefect has of it."""
    from prefect.client.orchestration import get_client
    from prefect.context import AsyncClientContext
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_CLIENT_MAX_RETRIES,
        temporary_settings,
    )

    from flows.registry import work_kind
    from flows.worker import Worker, WorkerOptions
    from services.runtime import worker_id

    kind = work_kind("process-recording")
    rid = _recording(catalog)
    runtime.override_transcriber(transcriber or Transcriber())
    if catalog_fault:
        original = getattr(catalog, catalog_fault)
        calls = []

        def dropped(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise sa_exc.OperationalError(
                    "SELECT 1", {}, Exception("server closed the connection unexpectedly")
                )
            return original(*args, **kwargs)

        monkeypatch.setattr(catalog, catalog_fault, dropped)

    async def scenario() -> tuple[str, int, str, list[str]]:
        worker = Worker(catalog, WorkerOptions(concurrency=1, sweep_seconds=0.05))
        async with AsyncClientContext.get_or_create() as ctx:
            client = ctx.client
            worker._runs.skip_redundant_policy_sync(client)
            injected: list[str] = []

            async def fault(request: httpx.Request) -> None:
                if api_fault and not injected and request.url.path.endswith(api_fault[0]):
                    injected.append(request.url.path)
                    raise api_fault[1](request)

            client._client.event_hooks["request"].append(fault)
            if replay:
                send = client._client.send

                async def send_twice(request: httpx.Request, *a: Any, **kw: Any) -> Any:
                    if request.method == "POST" and request.url.path.endswith(replay):
                        injected.append(request.url.path)
                        await send(request, *a, **kw)  # committed; the answer never came back
                    return await send(request, *a, **kw)

                monkeypatch.setattr(client._client, "send", send_twice)
            for _ in range(6):
                claims = kind.queue.claim_next(catalog.db, worker_id(), 1)
                if not claims:
                    break
                assert claims[0].id == rid
                await worker._run_item(kind, claims[0], client)
            # a run the API did not hear finish is settled in the background (settle_finished_run)
            await asyncio.wait_for(asyncio.gather(*worker._tasks), 60)
            assert not (api_fault or replay) or injected, "the fault was never injected"
        rec = catalog.get_recording(rid)
        async with get_client() as c:
            runs = [r for r in await c.read_flow_runs(limit=200) if r.name == f"recording-{rid}"]
        return rec.status.value, rec.attempt, rec.error, sorted(r.state.type.value for r in runs)

    # the balancer's and the client's own retries are spent: the error reaches the worker
    with temporary_settings({PREFECT_API_URL: api_url, PREFECT_CLIENT_MAX_RETRIES: 0}):
        try:
            return asyncio.run(scenario())
        finally:
            runtime.override_transcriber(None)


@pytest.fixture
def worker_env(catalog: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RECFLOW_RETRY_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("RECFLOW_RETRY_MAX_ATTEMPTS", "2")
    runtime.use_catalog(catalog)
    yield catalog
    runtime.use_catalog(None)


@pytest.mark.parametrize(
    ("where", "api_fault"),
    [
        ("creating the run", ("/flow_runs/", connect_error)),
        ("creating the run", ("/flow_runs/", bad_gateway)),
        ("starting the run", ("/set_state", connect_error)),
        ("starting the run", ("/set_state", bad_gateway)),
    ],
    ids=["create-refused", "create-502", "start-refused", "start-502"],
)
def test_prefect_api_away_before_the_body_releases_the_recording(
    worker_env: Any,
    prefect_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    api_fault: Any,
) -> None:
    status, attempt, error, runs = _process(
        worker_env, prefect_server.api_url, monkeypatch, api_fault=api_fault
    )
    assert (status, error, runs) == ("processed", "", ["COMPLETED"]), where
    assert attempt == 0  # released untouched: the run never reached the recording


def test_prefect_api_away_when_the_run_finishes_leaves_it_processed(
    worker_env: Any, prefect_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Completed state is lost (the server was killed holding the request): the recording
    is processed in the catalog and the worker records Completed once the API answers."""
    from prefect.client.orchestration import PrefectClient

    original = PrefectClient.set_flow_run_state
    seen: list[Any] = []

    async def set_state(self: Any, flow_run_id: Any, state: Any, **kw: Any) -> Any:
        seen.append(state.type.value)
        if state.type.value == "COMPLETED" and seen.count("COMPLETED") == 1:
            raise connect_error(httpx.Request("POST", f"http://api/flow_runs/{flow_run_id}"))
        return await original(self, flow_run_id, state, **kw)

    monkeypatch.setattr(PrefectClient, "set_flow_run_state", set_state)
    status, attempt, error, runs = _process(worker_env, prefect_server.api_url, monkeypatch)
    assert (status, attempt, error, runs) == ("processed", 0, "", ["COMPLETED"])
    assert seen.count("COMPLETED") >= 2  # refused, then recorded by settle_finished_run


@pytest.mark.parametrize("method", ["get_recording", "save_transcript"])
def test_catalog_connection_dropped_mid_run_hands_the_recording_back(
    worker_env: Any, prefect_server: Any, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """The body meets a transient platform error after its run attached to the claim: the
    recording goes out again under the next attempt (not `failed`), and the handed-back run is
    removed by that attempt, so Prefect shows one Completed run."""
    status, attempt, error, runs = _process(
        worker_env, prefect_server.api_url, monkeypatch, catalog_fault=method
    )
    assert (status, attempt, error, runs) == ("processed", 1, "", ["COMPLETED"])


def test_a_corrupt_recording_still_fails_at_once(
    worker_env: Any, prefect_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, attempt, error, runs = _process(
        worker_env, prefect_server.api_url, monkeypatch, transcriber=Transcriber(fail=True)
    )
    assert (status, attempt, runs) == ("failed", 0, ["FAILED"])
    assert "unreadable audio" in error


def test_a_run_creation_resent_by_the_balancer_makes_one_run(
    worker_env: Any, prefect_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HAProxy resends a request whose server died before answering (`retry-on
    empty-response`): the run the dead server committed must be the one the worker gets, not a
    second one left Pending next to the Completed one (seen killing API servers mid-burst)."""
    status, attempt, error, runs = _process(
        worker_env, prefect_server.api_url, monkeypatch, replay="/flow_runs/"
    )
    assert (status, attempt, error, runs) == ("processed", 0, "", ["COMPLETED"])
