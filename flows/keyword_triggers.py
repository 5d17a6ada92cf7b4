"""The `backfill-keyword-rules` flow: re-run keyword rules over past recordings (a thin shell
over ``services.keyword_triggers``)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from services.keyword_triggers import backfill, parse_when
from services.runtime import get_catalog


@flow(name="backfill-keyword-rules", persist_result=False, log_prints=True)
async def backfill_keyword_rules(
    since: str | None = None, until: str | None = None, alert: bool = False
) -> dict[str, Any]:
    """Re-run keyword rules over past recordings (ISO dates; ``until`` exclusive)."""
    report = await backfill(get_catalog(), parse_when(since), parse_when(until), alert=alert)
    print(f"backfill: {report.as_dict()}")
    return report.as_dict()
