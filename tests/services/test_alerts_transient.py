"""A keyword alert that meets the platform going away (the catalog's connection dropped) is not
a failed alert: send_alerts raises it, so the recording is handed back and its next attempt
sends; a connector's own failure is still logged and the other actions go on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from catalog.models import Recording, Speaker
from services import deliveries, keyword_triggers
from triggers import Match, RuleSet

RULES = RuleSet.model_validate(
    {"rules": [{"name": "churn", "any": ["cancel"], "actions": [{"connector": "hook"}]}]}
)
MATCH = Match(rule="churn", phrase="cancel", speaker=Speaker.caller, start=0.0, end=1.0)


def _recording(catalog: Any) -> Recording:
    rec = Recording(from_number="+15550050", to_number="+15550051", started_at=datetime.now(UTC))
    catalog.add_recordings([rec])
    return rec


async def _send(catalog: Any) -> int:
    return await keyword_triggers.send_alerts(catalog, _recording(catalog), None, RULES, [MATCH])


@pytest.fixture
def failing_notify(monkeypatch: pytest.MonkeyPatch) -> list[Exception]:
    raised: list[Exception] = []

    async def notify(*args: Any, **kwargs: Any) -> Any:
        raise raised[0]

    monkeypatch.setattr(deliveries, "notify_connector", notify)
    return raised


async def test_a_dropped_catalog_connection_is_raised_not_swallowed(catalog, failing_notify):
    failing_notify.append(sa_exc.OperationalError("INSERT", {}, Exception("connection lost")))
    with pytest.raises(sa_exc.OperationalError):
        await _send(catalog)


async def test_a_connectors_own_failure_is_logged_and_not_sent(catalog, failing_notify):
    failing_notify.append(RuntimeError("template missing"))
    assert await _send(catalog) == 0
