"""Connector health from the delivery log: real deliveries through the delivery loop against the
ClickUp fake answering 401, 429 and too slowly, then the states `connectors list` and the
portal show."""

from __future__ import annotations

import json
from typing import Any

from catalog.connector_configs import get_connector, put_connector
from connectors.configured import make_stored
from connectors.health import classify, health_of
from services.deliveries import run_delivery
from services.retry import RetryPolicy
from tests.fakes.tickets import FakeClickUp

ONCE = RetryPolicy(attempts=1)


def _put(catalog: Any, fake: FakeClickUp, token: str, timeout: float = 5.0) -> None:
    put_connector(
        catalog,
        make_stored(
            name="cu",
            kind="clickup",
            values={
                "api_token": token,
                "list_id": fake.list_id,
                "api_url": fake.url + "/api/v2",
                "timeout": timeout,
            },
        ),
    )


async def _deliver(catalog: Any, n: int) -> str:
    d = await run_delivery(
        catalog,
        "cu",
        subject_kind="rule",
        subject_id=f"s{n}",
        action="notify",
        idempotency_key=f"health-{n}",
        capability="notify",
        payload={"title": f"alert {n}", "text": "x"},
        policy=ONCE,
    )
    return d.status.value


def _health(catalog: Any) -> Any:
    stored = get_connector(catalog, "cu")
    assert stored is not None
    return health_of(catalog, stored)


async def test_health_transitions_on_401_429_and_timeouts(catalog: Any) -> None:
    with FakeClickUp() as fake:
        _put(catalog, fake, fake.token, timeout=1.0)
        assert _health(catalog).state == "unused"

        assert await _deliver(catalog, 1) == "succeeded"
        h = _health(catalog)
        assert (h.state, h.success_rate, h.settled) == ("ok", 1.0, 1)
        assert h.last_success_at is not None and h.last_error == ""

        fake.fail_next(429, headers={"Retry-After": "1"})
        assert await _deliver(catalog, 2) == "failed"
        h = _health(catalog)
        assert (h.state, h.last_error_class, h.success_rate) == ("failing", "rate_limit", 0.5)

        fake.fail_next(200, delay=2.0)  # longer than the 1 s timeout
        assert await _deliver(catalog, 3) == "failed"
        assert _health(catalog).last_error_class == "unreachable"

        # the token is revoked: every delivery now fails with invalid_auth
        fake.token = "pk_rotated"
        assert await _deliver(catalog, 4) == "failed"
        h = _health(catalog)
        assert (h.state, h.last_error_class) == ("needs_reauth", "auth")
        assert h.label.startswith("needs re-authentication")
        assert await _deliver(catalog, 5) == "failed"
        assert _health(catalog).state == "needs_reauth"

        # someone enters the new credentials: no longer "needs re-auth", and the next delivery
        # proves them
        _put(catalog, fake, "pk_rotated", timeout=1.0)
        assert _health(catalog).state == "failing"
        assert await _deliver(catalog, 6) == "succeeded"
        h = _health(catalog)
        assert h.state == "ok" and h.settled == 6 and round(h.success_rate, 2) == 0.33


def test_classify() -> None:
    assert classify("") == ""
    assert classify("invalid_auth: HTTP 401: nope") == "auth"
    assert classify("cannot_connect: HTTP 429: slow down") == "rate_limit"
    assert classify("cannot_connect: ConnectError: refused") == "unreachable"
    assert classify("rejected: HTTP 400: bad") == "rejected"
    assert classify("invalid_config: no such list") == "rejected"


def test_connectors_list_shows_health(catalog: Any, monkeypatch: Any) -> None:
    """`recflow connectors list --json` carries each connector's health."""
    import asyncio

    from typer.testing import CliRunner

    from recflow.cli import app

    monkeypatch.setenv("RECFLOW_DATA_DIR", str(catalog.settings.resolved_data_dir))
    from catalog.settings import get_settings

    get_settings.cache_clear()
    with FakeClickUp() as fake:
        fake.token = "pk_other"
        _put(catalog, fake, "pk_test_token")
        assert asyncio.run(_deliver(catalog, 1)) == "failed"
        out = CliRunner().invoke(app, ["connectors", "list", "--json"]).output
        [cu] = [c for c in json.loads(out)["configured"] if c["name"] == "cu"]
        assert cu["health"]["state"] == "needs_reauth"
        assert cu["health"]["last_error"].startswith("invalid_auth")
        text = CliRunner().invoke(app, ["connectors", "list"]).output
        assert "needs re-authentication" in text and "last error: invalid_auth" in text


async def test_needs_reauth_alerts_the_admin_connector_once_per_configuration(
    catalog: Any,
) -> None:
    from tests.fakes.webhook import FakeWebhook

    catalog.settings.health_alert_connector = "ops"
    with FakeClickUp() as fake, FakeWebhook() as hook:
        put_connector(catalog, make_stored(name="ops", kind="webhook",
                                           values={"url": hook.hook_url}))  # fmt: skip
        _put(catalog, fake, "pk_revoked")
        for n in range(3):
            assert await _deliver(catalog, n) == "failed"
        [alert] = hook.received
        body = alert.json()
        assert body["title"] == "recflow: connector cu needs re-authentication"
        assert body["data"]["event"] == "connector.needs_reauth"
        assert "invalid_auth" in body["text"]
        # new (still wrong) credentials re-arm it: one more alert, not three
        _put(catalog, fake, "pk_still_wrong")
        for n in range(3, 6):
            assert await _deliver(catalog, n) == "failed"
        assert len(hook.received) == 2
        # a rejected call (not auth) alerts nobody
        _put(catalog, fake, fake.token)
        fake.fail_next(400)
        assert await _deliver(catalog, 9) == "failed"
        assert len(hook.received) == 2
