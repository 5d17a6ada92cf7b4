"""Nothing lost, nothing twice, one Completed run per recording: claim-first workers against a
real Prefect server.

Workers run as real `recflow worker` processes so they can be killed with SIGKILL mid-run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.support import (
    CANCEL_CALL,
    PrefectServer,
    child_env,
    cli,
    free_port,
    make_call,
    start_worker,
    stop_group,
    wait_until,
)

pytestmark = pytest.mark.slow


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
    # the killed worker's run is removed when the next attempt starts: one Completed run
    assert states == ["COMPLETED"], states
    # the transcript is whole: it reaches the end of the call, in however many
    # segments the engine makes of it (the phone-band front end makes long ones)
    segments = json.loads(cli(env, "recordings", "transcript", rid, "--json").stdout)
    segments = segments.get("segments", segments) if isinstance(segments, dict) else segments
    caller_words = sum(len(s["text"].split()) for s in segments if s["speaker"] == "caller")
    assert caller_words >= 20 and max(s["end"] for s in segments) >= 55, segments


def _no_transcription(env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "no_transcription.yaml"
    cfg.write_text("account:\n  features:\n    transcription: false\n")
    cli(env, "config", "apply", str(cfg))


def _ingest(env: dict[str, str], audio: Path, n: int) -> list[str]:
    return [
        cli(env, "ingest", str(audio), "--from", "+15550010", "--to", "+15550011").stdout.strip()
        for _ in range(n)
    ]


def test_burst_with_two_workers_one_completed_run_each(tmp_path, prefect_server):
    """Claim first, then run: two workers race for a burst; every recording is claimed once and
    has exactly one flow run in Prefect, Completed, named by its id (no phone numbers)."""
    env = child_env(tmp_path / "data", PREFECT_API_URL=prefect_server.api_url)
    _no_transcription(env, tmp_path)
    call = make_call(CANCEL_CALL[:1])
    rids = _ingest(env, call.stereo, 12)
    workers = [start_worker(env, tmp_path / f"w{i}.log") for i in range(2)]
    try:
        for rid in rids:
            wait_until(lambda rid=rid: status(env, rid)["status"] == "processed", 180, 0.5, rid)
    finally:
        for w in workers:
            stop_group(w)
    runs = asyncio.run(_all_runs(prefect_server.api_url))
    for rid in rids:
        mine = [r for r in runs if r.parameters.get("recording_id") == rid]
        assert [r.state.type.value for r in mine] == ["COMPLETED"], (rid, mine)
        assert mine[0].name == f"recording-{rid}"
        assert status(env, rid)["attempt"] == 0
    assert not any("+1555" in r.name for r in runs)


async def _all_runs(api_url: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            return list(await client.read_flow_runs(limit=200))


def test_reprocess_on_demand_through_the_deployment(tmp_path, prefect_server):
    """`prefect deployment run process-recording/default -p recording_id=<id>` re-processes a
    processed recording under a new attempt; the original Completed run stays."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    metrics_port = free_port()
    env = child_env(
        tmp_path / "data",
        PREFECT_API_URL=prefect_server.api_url,
        RECFLOW_WORKER_METRICS_PORT=str(metrics_port),
    )
    _no_transcription(env, tmp_path)
    (rid,) = _ingest(env, make_call(CANCEL_CALL[:1]).stereo, 1)
    worker = start_worker(env, tmp_path / "w.log")
    try:
        wait_until(lambda: status(env, rid)["status"] == "processed", 180, 0.5, "processed")
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert 'recflow_worker_runs_completed_total{kind="recording"} 1.0' in scrape
        assert 'recflow_work_queue_depth{kind="recording",state="waiting"} 0.0' in scrape
        report = json.loads(cli(env, "status", "--json").stdout)
        assert report["queues"]["recordings"]["waiting"] == 0
        assert any(w["heartbeat_age_s"] < 30 for w in report["workers"])

        async def run_deployment() -> str:
            with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
                async with get_client() as client:
                    dep = await client.read_deployment_by_name("process-recording/default")
                    run = await client.create_flow_run_from_deployment(
                        dep.id, parameters={"recording_id": rid}
                    )
                    return str(run.id)

        run_id = asyncio.run(run_deployment())
        wait_until(
            lambda: status(env, rid)["attempt"] == 1 and status(env, rid)["status"] == "processed",
            180,
            0.5,
            "re-processed",
        )
        final = status(env, rid)
    finally:
        stop_group(worker)
    states = {r[0]: r[1] for r in runs_for(prefect_server.api_url, rid)}
    assert states[run_id] == "COMPLETED"
    assert sorted(states.values()) == ["COMPLETED", "COMPLETED"]
    assert final["flow_run_id"] == run_id
