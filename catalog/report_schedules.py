"""Scheduled call reports: what to send, when, and where (one settings document)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from catalog.repository import Catalog

KEY = "report_schedules"


class ReportSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    schedule: str = Field(description="cron, e.g. '0 6 * * *' (daily at 06:00)")
    timezone: str = "UTC"
    period: Literal["previous_day", "previous_week", "previous_month"] = "previous_day"
    group_by: Literal["all", "day", "user", "group", "direction"] = "day"
    format: Literal["csv", "xlsx"] = "csv"
    connector: str = Field(description="An email connector or a storage (archive) connector")
    to: list[str] = Field(
        default_factory=list, description="email: recipients (default: the connector's)"
    )
    enabled: bool = True


def load_schedules(catalog: Catalog) -> list[ReportSchedule]:
    doc = catalog.get_document(KEY) or {}
    return [ReportSchedule.model_validate(x) for x in doc.get("reports", [])]


def save_schedules(catalog: Catalog, items: list[ReportSchedule]) -> None:
    catalog.put_document(KEY, {"reports": [x.model_dump(mode="json") for x in items]})
