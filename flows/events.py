"""What recflow tells Prefect besides run states: events and the deliveries artifact.

Events (docs/operations.md has an automation recipe), each with the recording as resource
``recflow.recording.<id>`` — never a phone number or transcript text:

- ``recflow.recording.processed``: the recording's run finished and the catalog says processed;
- ``recflow.rule.matched``: a keyword rule fired on the recording (related:
  ``recflow.rule.<name>``);
- ``recflow.delivery.failed``: an every-call delivery or a keyword alert failed (related:
  ``recflow.connector.<name>``).

The deliveries table artifact of a run lists connector, action, status, attempt and error per
delivery of the recording (no message or transcript content); a run with no delivery creates no
artifact, so the common path costs nothing extra on the Prefect server.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("recflow.events")

PROCESSED = "recflow.recording.processed"
RULE_MATCHED = "recflow.rule.matched"
DELIVERY_FAILED = "recflow.delivery.failed"


def recording_resource(recording_id: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"recflow.recording.{recording_id}",
        "prefect.resource.name": f"recording {recording_id}",
        "prefect.resource.role": "recording",
    }


def emit(
    event: str,
    recording_id: str,
    payload: dict[str, Any] | None = None,
    related: list[dict[str, str]] | None = None,
) -> None:
    """Emit one event; an event that cannot be sent never fails the run."""
    from prefect.events import emit_event

    try:
        emit_event(
            event=event,
            resource=recording_resource(recording_id),
            related=related or [],
            payload=payload or {},
        )
    except Exception as e:
        log.warning("could not emit %s for %s: %s", event, recording_id, e)


def related(kind: str, name: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"recflow.{kind}.{name}",
        "prefect.resource.name": name,
        "prefect.resource.role": kind,
    }


async def deliveries_artifact(catalog: Any, recording_id: str) -> None:
    """A table artifact of the recording's deliveries (none: no artifact)."""
    from prefect.artifacts import acreate_table_artifact

    rows = [
        {
            "connector": d.connector,
            "action": d.action,
            "status": d.status.value,
            "attempt": d.attempt,
            "error": d.error[:200],
        }
        for d in catalog.list_deliveries(subject_id=recording_id)
    ]
    if not rows:
        return
    try:
        await acreate_table_artifact(
            table=rows,
            key=f"deliveries-{recording_id}",
            description=f"Deliveries of recording {recording_id}",
        )
    except Exception as e:
        log.warning("could not create the deliveries artifact of %s: %s", recording_id, e)
