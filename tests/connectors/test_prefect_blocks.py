"""Prefect blocks both ways, against the session's embedded Prefect API server:

* ``prefect_block`` notifies through a notification block someone saved in Prefect;
* ``recflow connectors publish NAME`` saves a configured connector as a ``recflow-connector``
  block whose secrets the Prefect API only shows masked, and ``RecflowConnector.load(...)
  .connector()`` gives back a working connector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.base import AuthError, ConfigError, Notification
from tests.fakes.webhook import FakeWebhook


@pytest.fixture
def prefect_api(prefect_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server.api_url


def _msg() -> Notification:
    return Notification(
        title="Keyword alert", text="Caller said cancel.", link_url="https://r.example/1"
    )


async def test_prefect_block_notifies_through_a_saved_webhook_block(prefect_api: str) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from flows.prefect_block import PrefectBlockConfig, PrefectBlockConnector

    with FakeWebhook() as hook:
        await CustomWebhookNotificationBlock(
            name="ops",
            url=hook.hook_url,
            json_data={"text": "{{subject}}|{{body}}"},
            allow_private_urls=True,
        ).save("recflow-test-ops", overwrite=True)
        c = PrefectBlockConnector(PrefectBlockConfig(block="custom-webhook/recflow-test-ops"))
        assert (await c.check()).ok
        assert await c.notify(_msg(), idempotency_key="k") == "custom-webhook/recflow-test-ops"
        [req] = hook.received
        text = req.json()["text"]
        assert text.startswith("Keyword alert|Caller said cancel.")
        assert "https://r.example/1" in text

        hook.fail_next(401)
        with pytest.raises(AuthError):
            await c.notify(_msg(), idempotency_key="k2")

    missing = PrefectBlockConnector(PrefectBlockConfig(block="custom-webhook/no-such-block"))
    with pytest.raises(ConfigError):
        await missing.notify(_msg(), idempotency_key="k")
    assert (await missing.check()).code == "invalid_config"
    with pytest.raises(ValueError):
        PrefectBlockConfig(block="no-slash")


def test_publish_round_trip_keeps_secrets_secret(prefect_api: str, tmp_path: Path) -> None:
    from recflow.cli import app  # data dir and secret key: the autouse isolated_settings

    runner = CliRunner()
    token = "pat-na1-SECRET-hubspot-token"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "connectors:\n"
        "  - {name: HubSpot_Prod.eu, kind: hubspot,\n"
        f"     config: {{access_token: {token}, host: 'https://api.hubapi.test'}}}}\n"
    )
    r = runner.invoke(app, ["config", "apply", str(cfg)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["connectors", "publish", "HubSpot_Prod.eu", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["block"] == "recflow-connector/hubspot-prod-eu"
    assert out["secret_fields"] == ["access_token"]
    assert runner.invoke(app, ["connectors", "publish", "nope"]).exit_code == 2

    # what the Prefect API gives anyone who reads the document: the secret masked
    import httpx

    doc = httpx.post(
        f"{prefect_api}/block_documents/filter",
        json={"block_types": {"slug": {"any_": ["recflow-connector"]}}},
    ).json()
    assert doc and token not in json.dumps(doc)

    # a user's own code (or flow) loads it and gets a working connector
    from recflow.prefect_blocks import RecflowConnector

    block = RecflowConnector.load("hubspot-prod-eu")
    conn = block.connector()
    assert conn.kind == "hubspot"
    assert conn.config.access_token.get_secret_value() == token
    assert conn.config.host == "https://api.hubapi.test"
