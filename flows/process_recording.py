"""`process-recording`: one flow run per recording, named ``recording-<id>`` (no phone numbers).

(claimed by the worker) → attach run → transcribe + store → keyword rules → every-call
connectors → complete. See flows/dispatch.py for the claim-first design.
The flow is ``async`` because a sync flow costs ~1 s of heartbeat-thread join per run
(testing.md); it runs inside long-lived workers (flows/worker.py), not a process per run.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger

from catalog.models import Transcript
from catalog.trigger_matches import unsent_alerts
from flows import dispatch, events
from services.runtime import get_catalog, transcriber_for
from services.transcription import transcribe_and_store

log = logging.getLogger("recflow.flows")


class AlertsFailed(Exception):
    """Keyword alerts of this recording that were not sent."""

    def __init__(self, unsent: list[tuple[str, str]]) -> None:
        self.unsent = unsent
        names = ", ".join(f"rule {r} via {c}" for r, c in unsent)
        super().__init__(f"{len(unsent)} keyword alert(s) not sent: {names}")


def _failed_deliveries(error: BaseException) -> list[tuple[str, str]]:
    """(connector, action) of each delivery or alert a failure is about."""
    if isinstance(error, AlertsFailed):
        return [(c, f"rule:{r}") for r, c in error.unsent]
    failed = getattr(error, "failed", None)  # services.deliveries.DeliveriesFailed
    return [(d.connector, d.action) for d in failed or []]


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
    from flows.registry import work_kind
    from services.deliveries import deliver_every_call
    from services.keyword_triggers import evaluate_keyword_rules

    kind = work_kind("process-recording")
    logger = get_run_logger()
    catalog = get_catalog()
    attempt = dispatch.begin(kind, recording_id, attempt)
    transcript: Transcript | None = None
    matches: list[Any] = []
    try:
        recording = catalog.get_recording(recording_id)
        assert recording is not None
        if catalog.account().features.transcription:
            transcript = await transcribe_and_store(catalog, recording, transcriber_for(catalog))
        matches = await evaluate_keyword_rules(recording, transcript) or []
        for rule in sorted({m.rule for m in matches}):
            rel = [events.related("rule", rule)]
            events.emit(events.RULE_MATCHED, recording_id, {"rule": rule}, rel)
        deliveries = await deliver_every_call(recording, transcript)
        # an alert that could not be sent leaves the recording not processed until a retry
        # sends it (alerts are sent once: the ledger skips those already sent)
        unsent = unsent_alerts(catalog, recording_id)
        if unsent:
            raise AlertsFailed(unsent)
    except Exception as e:
        # recorded on the recording so it is visible (`recordings show`, `--status failed`,
        # the portal), then the run fails; retriable errors were already retried by their task.
        # A transient failure of the platform (Prefect API, catalog) hands the recording back
        # instead: dispatch.fail raises HandedBack, and nothing below is the recording's
        dispatch.fail(kind, recording_id, attempt, e)
        for connector, action in _failed_deliveries(e):
            events.emit(
                events.DELIVERY_FAILED,
                recording_id,
                {"action": action, "error": str(e)[:300]},
                [events.related("connector", connector)],
            )
        await events.deliveries_artifact(catalog, recording_id)
        raise
    dispatch.finish(kind, recording_id, attempt)
    await events.deliveries_artifact(catalog, recording_id)
    events.emit(
        events.PROCESSED,
        recording_id,
        {"attempt": attempt, "matches": len(matches), "deliveries": len(deliveries or [])},
    )
    # one log line per run (each is a row on the Prefect server)
    logger.info(
        "recording %s processed (attempt %d): %s, %d rule match(es), %d delivery(ies)",
        recording_id,
        attempt,
        f"{len(transcript.segments)} transcript segment(s)" if transcript else "not transcribed",
        len(matches),
        len(deliveries or []),
    )
    return {
        "recording_id": recording_id,
        "segments": len(transcript.segments) if transcript else 0,
        "matches": len(matches),
        "deliveries": len(deliveries or []),
    }
