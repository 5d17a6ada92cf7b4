"""A worker killed between writing a recording's result to the catalog and reporting the run's
final state to Prefect leaves the run Running for good; any live worker settles it with the
catalog's verdict once the item has been finished for a lease (flows.dispatch.
settle_abandoned_runs). Found by the scale-out test (tests/recflow/test_scale_out.py), which hits
that window only by chance; here each case is set up exactly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from catalog.models import Recording
from catalog.tables import RecordingRow


def _recording(catalog) -> str:  # type: ignore[no-untyped-def]
    rec = Recording(from_number="+15550030", to_number="+15550031", started_at=datetime.now(UTC))
    catalog.add_recordings([rec])
    return rec.id


def _finish(catalog, rid: str, status: str, run_id: str, age_s: float, error: str = "") -> None:  # type: ignore[no-untyped-def]
    with catalog.db.session() as s:
        s.execute(
            update(RecordingRow)
            .where(RecordingRow.id == rid)
            .values(
                status=status,
                flow_run_id=run_id,
                error=error,
                status_changed_at=datetime.now(UTC) - timedelta(seconds=age_s),
            )
        )


@pytest.mark.slow
def test_runs_left_running_by_a_dead_worker_get_the_catalogs_verdict(catalog, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Running

    from flows.dispatch import settle_abandoned_runs
    from flows.process_recording import process_recording
    from flows.registry import work_kind

    kind = work_kind("process-recording")
    cases = {
        "processed, a lease ago": ("processed", 60, ""),
        "failed, a lease ago": ("failed", 60, "DeliveriesFailed: hook: HTTP 500"),
        "processed just now": ("processed", 0, ""),  # its worker may still be reporting
        "processed by another run": ("processed", 60, ""),
        "still processing": ("processing", 60, ""),
    }

    async def scenario() -> tuple[dict[str, tuple[str, str]], int, int]:
        with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
            async with get_client() as client:
                runs = {}
                for name, (status, age, error) in cases.items():
                    rid = _recording(catalog)
                    run = await client.create_flow_run(
                        process_recording,
                        parameters={"recording_id": rid, "attempt": 0},
                        name=f"recording-{rid}",
                        state=Running(),
                    )
                    owner = "0" * 32 if name == "processed by another run" else str(run.id)
                    _finish(catalog, rid, status, owner, age, error)
                    runs[name] = run.id
                first = await settle_abandoned_runs(client, catalog, [kind], lease_seconds=30)
                again = await settle_abandoned_runs(client, catalog, [kind], lease_seconds=30)
                out = {}
                for name, run_id in runs.items():
                    run = await client.read_flow_run(run_id)
                    out[name] = (run.state.type.value, run.state.message or "")
                return out, first, again

    states, first, again = asyncio.run(scenario())
    assert states["processed, a lease ago"][0] == "COMPLETED"
    assert states["failed, a lease ago"] == ("FAILED", "DeliveriesFailed: hook: HTTP 500")
    assert states["processed just now"][0] == "RUNNING"
    assert states["processed by another run"][0] == "RUNNING"
    assert states["still processing"][0] == "RUNNING"
    assert (first, again) == (2, 0)


@pytest.mark.slow
def test_a_run_superseded_by_a_newer_attempt_is_removed_a_real_failure_stays(
    catalog, prefect_server
):
    """A worker that stalled past its lease finds its claim gone at the end and fails with
    StaleRun; that run says nothing about the recording (the newer attempt does), so the newer
    attempt removes it like a lost one. A run that failed for a real reason stays."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Failed

    from catalog.work_items import Claim
    from flows.dispatch import StaleRun, remove_lost_run
    from flows.process_recording import process_recording

    async def scenario() -> tuple[bool, bool]:
        with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
            async with get_client() as client:
                ids = []
                for message in (
                    f"Flow run encountered an exception: StaleRun: {StaleRun('claim lost')}",
                    "Flow run encountered an exception: DeliveriesFailed: hook: HTTP 500",
                ):
                    rid = _recording(catalog)
                    run = await client.create_flow_run(
                        process_recording,
                        parameters={"recording_id": rid, "attempt": 0},
                        state=Failed(message=message),
                    )
                    await remove_lost_run(client, Claim(rid, 1, str(run.id)))
                    ids.append(run.id)
                exists = []
                for run_id in ids:
                    try:
                        await client.read_flow_run(run_id)
                        exists.append(True)
                    except Exception:
                        exists.append(False)
                return exists[0], exists[1]

    superseded_exists, real_failure_exists = asyncio.run(scenario())
    assert not superseded_exists
    assert real_failure_exists
