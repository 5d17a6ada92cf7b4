"""Nothing lost, nothing twice: the dispatcher and workers against a real Prefect server.

Workers run as real `recflow worker` processes so they can be killed with SIGKILL mid-run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support import (
    CANCEL_CALL,
    RECFLOW,
    PrefectServer,
    child_env,
    cli,
    make_call,
    stop_group,
    wait_until,
)

pytestmark = pytest.mark.slow


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [RECFLOW, "worker"],
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def status(env: dict[str, str], rid: str) -> dict:
    return json.loads(cli(env, "recordings", "show", rid, "--json").stdout)


async def _runs_for(api_url: str, rid: str) -> list[tuple[str, str]]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            runs = await client.read_flow_runs(limit=200)
    return [
        (str(r.id), r.state.type.value) for r in runs if r.parameters.get("recording_id") == rid
    ]


def runs_for(api_url: str, rid: str) -> list[tuple[str, str]]:
    return asyncio.run(_runs_for(api_url, rid))


def test_api_down_at_capture_then_processed_once_it_is_back(tmp_path):
    server = PrefectServer(tmp_path / "prefect")  # port chosen, not started yet
    env = child_env(
        tmp_path / "data", PREFECT_API_URL=server.api_url, RECFLOW_WORKER_LEASE_SECONDS="6"
    )
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        call = make_call(CANCEL_CALL[:2])
        rid = cli(
            env, "ingest", str(call.stereo), "--from", "+15550001", "--to", "+15550002"
        ).stdout.strip()
        assert status(env, rid)["status"] == "captured"
        server.start()
        wait_until(lambda: status(env, rid)["status"] == "processed", 180, 1, "processed")
        assert [state for _, state in runs_for(server.api_url, rid)] == ["COMPLETED"]
        transcript = json.loads(cli(env, "recordings", "transcript", rid, "--json").stdout)
        assert {s["speaker"] for s in transcript["segments"]} == {"caller", "callee"}
    finally:
        stop_group(worker)
        server.stop()


def test_worker_killed_mid_run_recording_completes_exactly_once(tmp_path, prefect_server):
    env = child_env(
        tmp_path / "data",
        PREFECT_API_URL=prefect_server.api_url,
        RECFLOW_WORKER_LEASE_SECONDS="4",
        RECFLOW_DISPATCH_INTERVAL_SECONDS="0.5",
    )
    long_call = make_call(CANCEL_CALL * 4)  # ~40 s of speech: transcription takes a while
    rid = cli(
        env, "ingest", str(long_call.stereo), "--from", "+15550003", "--to", "+15550004"
    ).stdout.strip()
    first = start_worker(env, tmp_path / "w1.log")
    try:
        wait_until(lambda: status(env, rid)["status"] == "processing", 120, 0.2, "claimed")
        os.killpg(first.pid, signal.SIGKILL)  # no clean-up, no goodbye
        first.wait()
        assert status(env, rid)["status"] == "processing"
        second = start_worker(env, tmp_path / "w2.log")
        try:
            final = wait_until(
                lambda: (s := status(env, rid))["status"] == "processed" and s,
                180,
                1,
                "processed after crash",
            )
        finally:
            stop_group(second)
    finally:
        stop_group(first)
    assert final["attempt"] == 1, "the recording was handed out again exactly once"
    states = sorted(state for _, state in runs_for(prefect_server.api_url, rid))
    assert states == ["COMPLETED", "CRASHED"], states
    assert cli(env, "recordings", "transcript", rid).stdout.count("caller:") >= 4


def test_duplicate_announce_creates_one_run(tmp_path, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from catalog.models import Recording
    from catalog.repository import Catalog
    from catalog.settings import RecflowSettings
    from flows.dispatch import announce

    env = child_env(tmp_path / "data", PREFECT_API_URL=prefect_server.api_url)
    # the deployment must exist: a worker registers it; dispatch is off so only we announce
    worker = subprocess.Popen(
        [RECFLOW, "worker", "--no-dispatch", "--concurrency", "1"],
        env=env,
        stdout=open(tmp_path / "w.log", "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        catalog = Catalog.open(RecflowSettings(data_dir=tmp_path / "data"))
        call = make_call(CANCEL_CALL[:1])
        rec = catalog.add_recording(Recording(from_number="+1", to_number="+2"), audio=call.stereo)

        async def twice() -> set[str | None]:
            with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
                async with get_client() as client:
                    await wait_for_deployment(client)
                    a = await client_announce(client)
                    # a second dispatcher that read the row before the first updated it
                    catalog.update_recording(rec.id, status="captured")
                    b = await client_announce(client)
                    return {a, b}

        async def client_announce(client):  # type: ignore[no-untyped-def]
            return await announce(client, catalog, rec.id)

        async def wait_for_deployment(client):  # type: ignore[no-untyped-def]
            for _ in range(120):
                try:
                    await client.read_deployment_by_name("process-recording/default")
                    return
                except Exception:
                    await asyncio.sleep(0.5)

        run_ids = asyncio.run(twice())
        assert len(run_ids) == 1 and None not in run_ids
        wait_until(lambda: status(env, rec.id)["status"] == "processed", 180, 1, "processed")
        assert [s for _, s in runs_for(prefect_server.api_url, rec.id)] == ["COMPLETED"]
    finally:
        stop_group(worker)
