"""`process-recording`: one flow run per recording, named ``recording-<id>`` (no phone numbers).

(claimed by the worker) → attach run → transcribe + store → keyword rules → every-call
connectors → complete. See flows/dispatch.py for the claim-first design.
The flow is ``async`` because a sync flow costs ~1 s of heartbeat-thread join per run
(testing.md); it runs inside long-lived workers (flows/worker.py), not a process per run.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger, task

from catalog.models import Recording, Transcript
from connectors.base import RetriableError
from flows import dispatch
from flows.runtime import get_catalog, transcriber_for

log = logging.getLogger("recflow.flows")


def retry_if_retriable(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry a task only when the failure is worth retrying (429, 5xx, timeouts)."""
    try:
        state.result()
    except RetriableError:
        return True
    except Exception:
        return False
    return False


@task(
    name="transcribe",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_if_retriable,
    persist_result=False,
)
async def transcribe_recording(recording: Recording) -> Transcript:
    """Transcribe and store the transcript: one task per recording (each task run is a write
    on the Prefect server)."""
    catalog = get_catalog()
    audio = catalog.store.local_path(recording.file_key)
    transcript = await transcriber_for(catalog).transcribe(recording, audio)
    catalog.save_transcript(transcript)
    return transcript


@flow(
    name="process-recording",
    flow_run_name="recording-{recording_id}",
    persist_result=False,
    log_prints=True,
)
async def process_recording(recording_id: str, attempt: int | None = None) -> dict[str, Any]:
    """Process one captured recording. The worker calls it after claiming the recording in the
    catalog (``attempt`` = the claimed attempt); a run created through the deployment (Prefect
    UI, ``prefect deployment run``) re-processes the recording under a new attempt."""
    from flows.deliveries import deliver_every_call
    from flows.keyword_triggers import evaluate_keyword_rules
    from flows.registry import work_kind

    kind = work_kind("process-recording")
    logger = get_run_logger()
    catalog = get_catalog()
    attempt = dispatch.begin(kind, recording_id, attempt)
    recording = catalog.get_recording(recording_id)
    assert recording is not None
    transcript: Transcript | None = None
    try:
        if catalog.account().features.transcription:
            transcript = await transcribe_recording(recording)
            logger.info("transcribed %d segments", len(transcript.segments))
        matches = await evaluate_keyword_rules(recording, transcript)
        deliveries = await deliver_every_call(recording, transcript)
    except Exception as e:
        # recorded on the recording so it is visible (`recordings show`, `--status failed`),
        # then the run fails; retriable errors were already retried by their task
        dispatch.fail(kind, recording_id, attempt, e)
        raise
    dispatch.finish(kind, recording_id, attempt)
    logger.info(
        "recording %s processed (attempt %d): %d rule match(es), %d delivery(ies)",
        recording_id,
        attempt,
        len(matches or []),
        len(deliveries or []),
    )
    return {
        "recording_id": recording_id,
        "segments": len(transcript.segments) if transcript else 0,
        "matches": len(matches or []),
        "deliveries": len(deliveries or []),
    }
