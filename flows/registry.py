"""Every deployment the worker serves, and every catalog sweep it runs.

A feature adds one entry to ``DEPLOYMENTS`` (and, if its subjects are durable in the catalog
before they become flow runs, one entry to ``WORK_KINDS``). The worker registers the deployments
with Prefect at start-up (schedules included, so they show in the Prefect UI) and executes their
scheduled runs in-process.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flows.dispatch import WorkKind

if TYPE_CHECKING:
    from prefect import Flow

    from catalog.repository import Catalog


@dataclass(frozen=True)
class DeploymentSpec:
    """A flow served by the worker. ``schedules`` returns Prefect schedules (e.g.
    ``prefect.schedules.Cron`` with parameters and a slug) built from the catalog; the worker
    calls it at start and re-registers the deployment whenever the result changes (after
    `config apply`), e.g. one schedule per archive destination."""

    flow_path: str  # "module:attribute"
    name: str = "default"
    description: str = ""
    schedules: Callable[[Catalog], list[Any]] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    def load_flow(self) -> Flow[Any, Any]:
        module, attr = self.flow_path.split(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


# flow name -> spec. Flow names are the Prefect flow names (kebab-case).
DEPLOYMENTS: dict[str, DeploymentSpec] = {
    "process-recording": DeploymentSpec(
        "flows.process_recording:process_recording",
        description="Transcribe a recording, evaluate keyword rules, run connectors.",
    ),
    "sms-to-email": DeploymentSpec("flows.sms:sms_to_email", description="Email one SMS."),
    "backfill-keyword-rules": DeploymentSpec(
        "flows.keyword_triggers:backfill_keyword_rules",
        description="Re-evaluate keyword rules over past recordings (date range).",
    ),
    "sms-monthly-csv": DeploymentSpec(
        "flows.sms:sms_monthly_csv",
        description="Monthly SMS CSV files.",
        schedules=lambda c: importlib.import_module("flows.sms").monthly_csv_schedules(c),
    ),
    "archive": DeploymentSpec(
        "flows.archive:archive_flow",
        description="Archive new recordings to one destination (one schedule per archive).",
        schedules=lambda c: importlib.import_module("flows.archive").archive_schedules(c),
    ),
    "scheduled-report": DeploymentSpec(
        "flows.reports:report_flow",
        description="Send one scheduled call report (one schedule per report).",
        schedules=lambda c: importlib.import_module("flows.reports").report_schedules(c),
    ),
    "retention": DeploymentSpec(
        "flows.archive:retention_flow",
        description="Nightly retention: delete expired recordings nothing holds.",
        schedules=lambda c: importlib.import_module("flows.archive").retention_schedules(c),
    ),
}

# Work items (catalog.work_items): the worker claims ready items in the catalog, then runs their
# flow in-process as a plain call (flows.dispatch). A feature whose subjects must be processed
# exactly once adds a queue in the catalog and one entry here; its flow calls
# flows.dispatch.begin/finish/fail.
WORK_KINDS: list[WorkKind] = [
    WorkKind(
        "recording",
        "process-recording",
        "recording_id",
        "flows.process_recording:process_recording",
        "catalog.repository:RECORDINGS",
    ),
    WorkKind("sms", "sms-to-email", "sms_id", "flows.sms:sms_to_email", "catalog.sms:SMS_QUEUE"),
]


def work_kind(flow_name: str) -> WorkKind:
    return next(k for k in WORK_KINDS if k.flow_name == flow_name)


def deployment_full_name(flow_name: str) -> str:
    return f"{flow_name}/{DEPLOYMENTS[flow_name].name}"
