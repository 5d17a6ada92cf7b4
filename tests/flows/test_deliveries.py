"""Deliveries end to end (minus Prefect): config apply → every-call fan-out to four fakes,
failure isolation, retry by error class with Retry-After, no duplicates on re-run, retry CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import tests.connectors.conftest as shared
from catalog.models import DeliveryStatus, Recording, Transcript
from services.config.document import apply_document
from tests.fakes.crm import FakeHubSpot, FakeSheets
from tests.fakes.slack import FakeSlack
from tests.fakes.webhook import FakeWebhook

# the connector tests' fixtures: isolated settings + key, a sample call
isolated_settings = shared.isolated_settings
recording = shared.recording
transcript = shared.transcript


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with (
        FakeSlack("xoxb-flow") as slack,
        FakeHubSpot("pat-flow") as hub,
        FakeSheets() as sheets,
        FakeWebhook() as hook,
    ):
        yield {"slack": slack, "hubspot": hub, "sheets": sheets, "hook": hook}


@pytest.fixture
def configured(catalog, fakes, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import services.deliveries as d

    monkeypatch.setattr(d, "_catalog", lambda: catalog)
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-flow")
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-flow")
    doc = yaml.safe_load(f"""
connectors:
  - name: support-slack
    kind: slack
    config: {{token: "${{SLACK_TOKEN}}", channel: "#support", base_url: "{fakes["slack"].api_url}"}}
    on: every_call
  - name: crm
    kind: hubspot
    config: {{access_token: "${{HUBSPOT_TOKEN}}", host: "{fakes["hubspot"].url}"}}
    on: every_call
  - name: sheet
    kind: gsheets
    config: {{spreadsheet_id: sheet123, access_token: ya29.test-token,
              api_base_url: "{fakes["sheets"].url}"}}
    on: every_call
  - name: hook
    kind: webhook
    config: {{url: "{fakes["hook"].hook_url}", signing_secret: whsec}}
    on: every_call
  - name: quiet
    kind: webhook
    config: {{url: "{fakes["hook"].hook_url}"}}
""")
    apply_document(catalog, doc)
    return catalog


async def test_every_call_reaches_all_four_once(
    configured, fakes, recording: Recording, transcript: Transcript
) -> None:
    from services.deliveries import deliver_every_call

    configured.add_recording(recording)
    out = await deliver_every_call(recording, transcript)
    assert sorted(d.connector for d in out) == ["crm", "hook", "sheet", "support-slack"]
    assert all(d.status is DeliveryStatus.succeeded and d.external_id for d in out)
    assert len(fakes["slack"].posts) == 1
    assert len(fakes["hubspot"].calls) == 1
    assert len(fakes["sheets"].rows) == 2  # header + the call
    assert len(fakes["hook"].received) == 1  # `quiet` has no on: every_call
    # a re-run (flow retry, requeue after a crash) sends nothing again
    again = await deliver_every_call(recording, transcript)
    assert {d.id for d in again} == {d.id for d in out}
    assert len(fakes["slack"].posts) == 1 and len(fakes["hubspot"].calls) == 1
    assert len(fakes["sheets"].rows) == 2 and len(fakes["hook"].received) == 1


async def test_the_delivery_log_going_away_is_not_a_failed_delivery(
    configured, fakes, monkeypatch: pytest.MonkeyPatch, recording: Recording, transcript: Transcript
) -> None:
    """The catalog drops its connection while one delivery is logged: that is the platform's
    failure, not the connector's nor the call's, so it is raised as it is (the flow hands the
    recording back: flows.dispatch.fail) instead of failing the recording as DeliveriesFailed."""
    from sqlalchemy import exc as sa_exc

    from services.deliveries import deliver_every_call

    log = configured.record_delivery
    calls: list[int] = []

    def dropped(delivery: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise sa_exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))
        return log(delivery)

    monkeypatch.setattr(configured, "record_delivery", dropped)
    with pytest.raises(sa_exc.OperationalError):
        await deliver_every_call(recording, transcript)


async def test_one_failure_never_stops_the_others(
    configured, fakes, recording: Recording, transcript: Transcript
) -> None:
    from services.deliveries import DeliveriesFailed, deliver_every_call

    fakes["hubspot"].token = "rotated"  # crm now answers 401: permanent, not retried
    with pytest.raises(DeliveriesFailed) as info:
        await deliver_every_call(recording, transcript)
    by = {d.connector: d for d in info.value.deliveries}
    assert by["crm"].status is DeliveryStatus.failed and by["crm"].attempt == 1
    assert by["crm"].error.startswith("invalid_auth")
    assert "pat-flow" not in by["crm"].error
    assert all(by[n].status is DeliveryStatus.succeeded for n in ("support-slack", "sheet", "hook"))
    # fix the credential and retry only the failed delivery, through the CLI's function
    fakes["hubspot"].token = "pat-flow"
    from services.deliveries import retry_delivery

    d = await retry_delivery(configured, by["crm"].id)
    assert d.status is DeliveryStatus.succeeded and d.attempt == 2
    assert len(fakes["hubspot"].calls) == 1 and len(fakes["slack"].posts) == 1


async def test_retriable_errors_are_retried_honouring_retry_after(
    configured, fakes, recording: Recording, transcript: Transcript
) -> None:
    from services.deliveries import deliver_every_call

    fakes["slack"].fail_next(429, headers={"Retry-After": "0.3"}, path_contains="chat.postMessage")
    fakes["hook"].fail_next(503, times=2)
    t0 = time.monotonic()
    out = await deliver_every_call(recording, transcript)
    assert time.monotonic() - t0 >= 0.3
    by = {d.connector: d for d in out}
    assert by["support-slack"].attempt == 2 and by["hook"].attempt == 3
    assert len(fakes["slack"].posts) == 1 and len(fakes["hook"].received) == 1


async def test_retries_are_bounded(
    configured, fakes, recording: Recording, transcript: Transcript, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.deliveries import DeliveriesFailed, deliver_every_call

    monkeypatch.setenv("RECFLOW_DELIVERY_MAX_ATTEMPTS", "3")
    fakes["hook"].fail_next(500, times=100)
    with pytest.raises(DeliveriesFailed) as info:
        await deliver_every_call(recording, transcript)
    [failed] = info.value.failed
    assert failed.connector == "hook" and failed.attempt == 3
    assert failed.error.startswith("cannot_connect")
    listed = configured.list_deliveries(status=DeliveryStatus.failed)
    assert [d.connector for d in listed] == ["hook"]


async def test_notify_connector_for_rules(configured, fakes, recording: Recording) -> None:
    from connectors.base import Notification
    from services.deliveries import notify_connector, retry_delivery

    msg = Notification(title="Keyword: cancel", text="Caller said cancel")
    d = await notify_connector(
        "support-slack",
        subject_kind="recording",
        subject_id=recording.id,
        action="rule:churn",
        message=msg,
        idempotency_key="r:rule:churn:slack",
    )
    assert d.status is DeliveryStatus.succeeded and d.action == "rule:churn"
    assert fakes["slack"].posts[0]["text"].startswith("Keyword: cancel")
    # a CRM cannot take a notification: a failed delivery, not an exception
    bad = await notify_connector(
        "crm",
        subject_kind="recording",
        subject_id=recording.id,
        action="rule:churn",
        message=msg,
        idempotency_key="r:rule:churn:crm",
    )
    assert bad.status is DeliveryStatus.failed and "cannot notify" in bad.error
    missing = await notify_connector(
        "nope",
        subject_kind="recording",
        subject_id=recording.id,
        action="rule:x",
        message=msg,
        idempotency_key="r:rule:x:nope",
    )
    assert missing.status is DeliveryStatus.failed and missing.error.startswith("invalid_config")
    # the stored payload lets an operator resend a trigger message exactly
    fakes["slack"].fail_next(500, times=100)
    d2 = await notify_connector(
        "support-slack",
        subject_kind="recording",
        subject_id=recording.id,
        action="rule:churn",
        message=msg,
        idempotency_key="r:rule:churn:2",
    )
    assert d2.status is DeliveryStatus.failed
    fakes["slack"].faults.clear()
    d3 = await retry_delivery(configured, d2.id)
    assert d3.status is DeliveryStatus.succeeded
    assert fakes["slack"].posts[-1]["text"].startswith("Keyword: cancel")


async def test_disabled_connector_is_skipped(
    configured, fakes, recording: Recording, transcript: Transcript
) -> None:
    from catalog.connector_configs import get_connector, put_connector
    from services.deliveries import deliver_every_call

    stored = get_connector(configured, "support-slack")
    assert stored is not None
    put_connector(configured, stored.model_copy(update={"enabled": False}))
    out = await deliver_every_call(recording, transcript)
    assert "support-slack" not in {d.connector for d in out} and not fakes["slack"].posts


async def test_user_template_override(
    configured, fakes, recording: Recording, transcript: Transcript, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from catalog.settings import get_settings
    from services.deliveries import deliver_every_call

    d = get_settings().resolved_data_dir / "templates" / "connectors"
    d.mkdir(parents=True)
    (d / "every_call_title.txt.j2").write_text("CALL {{ recording.from_number }} for {{ account }}")
    await deliver_every_call(recording, transcript)
    assert (
        fakes["slack"].posts[0]["blocks"][0]["text"]["text"] == "CALL +44 7700 900124 for recflow"
    )
