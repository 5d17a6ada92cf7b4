"""`process-recording`: one flow run per recording, named after the call.

claim → transcribe → store transcript → keyword rules → every-call connectors → complete.
The flow is ``async`` because a sync flow costs ~1 s of heartbeat-thread join per run
(testing.md); it runs inside long-lived workers (flows/worker.py), not a process per run.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.context import get_run_context

from catalog.models import Recording, Transcript
from connectors.base import RetriableError
from services.runtime import get_catalog, transcriber_for, worker_id

log = logging.getLogger("recflow.flows")


class StaleRun(Exception):
    """This run lost its claim (the recording was handed out again after a crash, or another
    run already finished it). It must not write results."""


def retry_if_retriable(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry a task only when the failure is worth retrying (429, 5xx, timeouts)."""
    try:
        state.result()
    except RetriableError:
        return True
    except Exception:
        return False
    return False


def claim_recording(recording_id: str, attempt: int, flow_run_id: str) -> Recording:
    """Take the recording for this run (compare-and-set in the catalog). Plain calls, not
    tasks: they are one indexed UPDATE each, and a task costs more than the work it wraps."""
    catalog = get_catalog()
    if not catalog.claim(recording_id, attempt, worker_id(), flow_run_id):
        rec = catalog.get_recording(recording_id)
        state = f"{rec.status.value} attempt {rec.attempt}" if rec else "missing"
        raise StaleRun(f"recording {recording_id} attempt {attempt} not claimable ({state})")
    rec = catalog.get_recording(recording_id)
    assert rec is not None
    return rec


@task(
    name="transcribe_recording",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_if_retriable,
    persist_result=False,
)
async def transcribe_recording(recording: Recording) -> Transcript:
    catalog = get_catalog()
    audio = catalog.store.local_path(recording.file_key)
    return await transcriber_for(catalog).transcribe(recording, audio)


@task(name="store_transcript", persist_result=False)
async def store_transcript(transcript: Transcript) -> int:
    get_catalog().save_transcript(transcript)
    return len(transcript.segments)


def complete_recording(recording: Recording) -> None:
    if not get_catalog().complete(recording.id, recording.attempt, worker_id()):
        raise StaleRun(f"recording {recording.id}: claim lost before completion")


@flow(name="process-recording", persist_result=False, log_prints=True)
async def process_recording(recording_id: str, attempt: int = 0) -> dict[str, Any]:
    """Process one captured recording. Parameters come from the dispatcher."""
    from services.deliveries import deliver_every_call
    from services.keyword_triggers import evaluate_keyword_rules

    logger = get_run_logger()
    run_ctx = get_run_context()
    flow_run_id = str(run_ctx.flow_run.id) if run_ctx.flow_run else ""  # type: ignore[union-attr]
    catalog = get_catalog()
    recording = claim_recording(recording_id, attempt, flow_run_id)
    transcript: Transcript | None = None
    try:
        if catalog.account().features.transcription:
            transcript = await transcribe_recording(recording)
            await store_transcript(transcript)
            logger.info("transcribed %d segments", len(transcript.segments))
        matches = await evaluate_keyword_rules(recording, transcript)
        deliveries = await deliver_every_call(recording, transcript)
    except Exception as e:
        # recorded on the recording so it is visible (`recordings show`, `--status failed`),
        # then the run fails; retriable errors were already retried by their task
        catalog.fail(recording.id, recording.attempt, f"{type(e).__name__}: {e}")
        raise
    complete_recording(recording)
    return {
        "recording_id": recording.id,
        "segments": len(transcript.segments) if transcript else 0,
        "matches": len(matches or []),
        "deliveries": len(deliveries or []),
    }
