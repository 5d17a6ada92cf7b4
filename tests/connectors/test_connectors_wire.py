"""Each connector against a wire-level fake of its vendor API, through the official SDK."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import pytest

from catalog.models import Recording, Transcript
from connectors.base import (
    AuthError,
    CallActivity,
    ConfigError,
    Notification,
    NotificationField,
)
from services.deliveries import call_activity, call_context, every_call_notification


@pytest.fixture
def message(recording: Recording, transcript: Transcript) -> Notification:
    return every_call_notification(call_context(recording, transcript, "Acme"))


@pytest.fixture
def activity(recording: Recording, transcript: Transcript) -> CallActivity:
    return call_activity(recording, call_context(recording, transcript, "Acme"))


# ---------------------------------------------------------------- slack


async def test_slack_posts_blocks_with_fallback(message: Notification) -> None:
    from connectors.slack import SlackConfig, SlackConnector
    from tests.fakes.slack import FakeSlack

    with FakeSlack("xoxb-1") as fake:
        c = SlackConnector(SlackConfig(token="xoxb-1", channel="#support", base_url=fake.api_url))
        ext = await c.notify(message, idempotency_key="k1")
        assert ext.startswith("C0001/")
        [post] = fake.posts
        assert post["channel"] == "#support"
        assert "cancel my subscription" in post["text"]  # the plain-text fallback
        types = [b["type"] for b in post["blocks"]]
        assert types[0] == "header" and "actions" in types
        assert post["blocks"][-1]["elements"][0]["url"].startswith("https://recflow.example.com/")
        assert (await c.check()).ok


async def test_slack_bad_token_is_auth_error(message: Notification) -> None:
    from connectors.slack import SlackConfig, SlackConnector
    from tests.fakes.slack import FakeSlack

    with FakeSlack("xoxb-right") as fake:
        c = SlackConnector(SlackConfig(token="xoxb-wrong", channel="#x", base_url=fake.api_url))
        with pytest.raises(AuthError):
            await c.notify(message, idempotency_key="k")
        res = await c.check()
        assert not res.ok and res.code == "invalid_auth"


async def test_slack_incoming_webhook_mode(message: Notification) -> None:
    from connectors.slack import SlackConfig, SlackConnector
    from tests.fakes.slack import FakeSlack

    with FakeSlack() as fake:
        c = SlackConnector(SlackConfig(webhook_url=fake.webhook_url))
        await c.notify(message, idempotency_key="k")
        assert fake.hooks[0]["blocks"][0]["type"] == "header"


def test_slack_config_needs_a_mode() -> None:
    from pydantic import ValidationError

    from connectors.slack import SlackConfig

    with pytest.raises(ValidationError):
        SlackConfig(channel="#x")


# ---------------------------------------------------------------- email (real SMTP server)


async def test_email_multipart_plain_smtp(message: Notification) -> None:
    from connectors.email import EmailConfig, EmailConnector, message_id_for
    from tests.fakes.smtp import FakeSMTP

    with FakeSMTP() as smtp:
        c = EmailConnector(
            EmailConfig(
                host="127.0.0.1",
                port=smtp.port,
                from_address="rec@acme.test",
                to_addresses=["ops@acme.test"],
                starttls=False,
            )
        )
        mid = await c.notify(message, idempotency_key="rec-1:mail:every_call")
        assert mid == message_id_for("rec-1:mail:every_call", "rec@acme.test")
        [got] = smtp.messages
        assert got["Subject"] == message.title
        assert got.get_content_type() == "multipart/alternative"
        kinds = [p.get_content_type() for p in got.iter_parts()]
        assert kinds == ["text/plain", "text/html"]
        assert "cancel my subscription" in got.get_body(("plain",)).get_content()
        assert (await c.check()).ok


async def test_email_starttls_with_auth_and_send_message() -> None:
    from connectors.email import EmailConfig, EmailConnector
    from tests.fakes.smtp import FakeSMTP

    with FakeSMTP(starttls=True, auth=("user", "pw-123")) as smtp:
        cfg = EmailConfig(
            host="localhost",
            port=smtp.port,
            from_address="rec@acme.test",
            username="user",
            password="pw-123",
            starttls=True,
            ca_file=smtp.ca_file,
        )
        c = EmailConnector(cfg)
        msg = EmailMessage()
        msg["To"] = "someone@acme.test"
        msg["Subject"] = "SMS from +1555"
        msg["X-Focus-Interaction-ID"] = "abc"
        msg.set_content("aGVsbG8=")
        mid = await c.send_message(msg)
        assert mid.startswith("<") and smtp.messages[0]["Message-ID"] == mid
        assert smtp.messages[0]["X-Focus-Interaction-ID"] == "abc"
        bad = EmailConnector(EmailConfig.model_validate({**cfg.model_dump(), "password": "nope"}))
        res = await bad.check()
        assert not res.ok and res.code == "invalid_auth"


async def test_email_implicit_tls(message: Notification) -> None:
    from connectors.email import EmailConfig, EmailConnector
    from tests.fakes.smtp import FakeSMTP

    with FakeSMTP(implicit_tls=True) as smtp:
        c = EmailConnector(
            EmailConfig(
                host="localhost",
                port=smtp.port,
                from_address="r@a.test",
                to_addresses="ops@a.test",
                ssl=True,
                ca_file=smtp.ca_file,
            )
        )
        await c.notify(message, idempotency_key="k")
        assert len(smtp.messages) == 1


async def test_email_refused_connection_is_retriable(message: Notification) -> None:
    from connectors.base import RetriableError
    from connectors.email import EmailConfig, EmailConnector
    from tests.fakes.smtp import _free_port

    c = EmailConnector(
        EmailConfig(
            host="127.0.0.1",
            port=_free_port(),
            from_address="r@a.test",
            to_addresses=["o@a.test"],
            starttls=False,
            timeout=2,
        )
    )
    with pytest.raises(RetriableError):
        await c.notify(message, idempotency_key="k")


# ---------------------------------------------------------------- teams


async def test_teams_adaptive_card(message: Notification) -> None:
    from connectors.teams import TeamsConfig, TeamsConnector
    from tests.fakes.webhook import FakeTeams

    with FakeTeams() as fake:
        c = TeamsConnector(TeamsConfig(webhook_url=fake.webhook_url))
        assert await c.notify(message, idempotency_key="k") == "req-1"
        card = fake.cards[0]["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        content = card["content"]
        assert content["type"] == "AdaptiveCard"
        assert content["body"][0]["text"] == message.title
        assert content["actions"][0]["url"] == message.link_url


# ---------------------------------------------------------------- webhook


async def test_webhook_signed_json(message: Notification) -> None:
    from connectors.webhook import WebhookConfig, WebhookConnector, verify
    from tests.fakes.webhook import FakeWebhook

    with FakeWebhook() as fake:
        c = WebhookConnector(
            WebhookConfig(
                url=fake.hook_url,
                signing_secret="s3cret",
                headers={"X-Env": "test"},
                secret_headers={"Authorization": "Bearer abc"},
            )
        )
        assert await c.notify(message, idempotency_key="key-1") == "evt-1"
        [req] = fake.received
        assert req.headers["idempotency-key"] == "key-1"
        assert req.headers["x-env"] == "test" and req.headers["authorization"] == "Bearer abc"
        assert verify("s3cret", req.headers["x-recflow-signature"], req.body)
        assert not verify("other", req.headers["x-recflow-signature"], req.body)
        assert req.json()["data"]["event"] == "call.processed"


async def test_webhook_jinja_body_and_put(message: Notification) -> None:
    from connectors.webhook import WebhookConfig, WebhookConnector
    from tests.fakes.webhook import FakeWebhook

    tmpl = '{"summary": {{ message.title | tojson }}, "rec": "{{ data.recording.id }}"}'
    with FakeWebhook() as fake:
        c = WebhookConnector(WebhookConfig(url=fake.hook_url, method="PUT", body_template=tmpl))
        await c.notify(message, idempotency_key="k")
        body = fake.received[0].json()
        assert fake.received[0].method == "PUT"
        assert body == {"summary": message.title, "rec": message.data["recording"]["id"]}


def test_webhook_template_syntax_checked_at_config_time() -> None:
    from pydantic import ValidationError

    from connectors.webhook import WebhookConfig

    with pytest.raises(ValidationError, match="body_template"):
        WebhookConfig(url="http://127.0.0.1/", body_template="{{ unclosed")


async def test_webhook_sandbox_blocks_python_internals(message: Notification) -> None:
    from connectors.webhook import WebhookConfig, WebhookConnector

    c = WebhookConnector(
        WebhookConfig(url="http://127.0.0.1:9/", body_template="{{ message.__class__.__mro__ }}")
    )
    with pytest.raises(ConfigError):
        c.build_body(message)


# ---------------------------------------------------------------- salesforce (TLS)


async def test_salesforce_task_on_contact_by_e164_and_dedup(activity: CallActivity) -> None:
    from connectors.salesforce import SalesforceConfig, SalesforceConnector
    from tests.fakes.crm import FakeSalesforce

    with FakeSalesforce() as fake:
        lead = fake.add("Lead", Phone="+447700900124")
        contact = fake.add("Contact", Phone="07700 900124", MobilePhone="")  # national format
        other = fake.add("Contact", Phone="+447700900999")
        c = SalesforceConnector(
            SalesforceConfig(
                instance_url=fake.url,
                access_token=fake.token,
                ca_file=fake.ca_file,
                default_region="GB",
            )
        )
        tid = await c.log_call(activity, idempotency_key="rec:sf:every_call")
        task = fake.tasks[tid]
        assert task["WhoId"] == contact and task["WhoId"] not in (lead, other)
        assert task["TaskSubtype"] == "Call" and task["Status"] == "Completed"
        assert task["CallType"] == "Inbound" and task["CallDurationInSeconds"] == 83
        assert task["CallObject"] == activity.recording_id
        assert "cancel my subscription" in task["Description"]
        assert activity.recording_url in task["Description"]
        # the same delivery again: found by CallObject and updated, never a second Task
        tid2 = await c.log_call(activity, idempotency_key="rec:sf:every_call")
        assert tid2 == tid and len(fake.tasks) == 1
        assert (await c.check()).ok


async def test_salesforce_upsert_on_external_id(activity: CallActivity) -> None:
    from connectors.salesforce import SalesforceConfig, SalesforceConnector
    from tests.fakes.crm import FakeSalesforce

    with FakeSalesforce() as fake:
        c = SalesforceConnector(
            SalesforceConfig(
                instance_url=fake.url,
                access_token=fake.token,
                ca_file=fake.ca_file,
                external_id_field="Recording_Id__c",
            )
        )
        await c.log_call(activity, idempotency_key="rec-9:sf:every_call")
        await c.log_call(activity, idempotency_key="rec-9:sf:every_call")
        assert len(fake.tasks) == 1
        assert [p for p in fake.seen("PATCH") if "Recording_Id__c" in p.path]


async def test_salesforce_expired_session_is_auth_error(activity: CallActivity) -> None:
    from connectors.salesforce import SalesforceConfig, SalesforceConnector
    from tests.fakes.crm import FakeSalesforce

    with FakeSalesforce() as fake:
        c = SalesforceConnector(
            SalesforceConfig(instance_url=fake.url, access_token="stale", ca_file=fake.ca_file)
        )
        with pytest.raises(AuthError):
            await c.log_call(activity, idempotency_key="k")


# ---------------------------------------------------------------- hubspot


async def test_hubspot_call_associated_to_contact_and_dedup(activity: CallActivity) -> None:
    from connectors.hubspot import CALL_TO_CONTACT, HubspotConfig, HubspotConnector
    from tests.fakes.crm import FakeHubSpot

    with FakeHubSpot() as fake:
        contact = fake.add_contact("+447700900124")
        c = HubspotConnector(HubspotConfig(access_token=fake.token, host=fake.url))
        cid = await c.log_call(activity, idempotency_key="rec:crm:every_call")
        props = fake.calls[cid]
        assert props["hs_call_direction"] == "INBOUND"
        assert props["hs_call_duration"] == "83400"  # milliseconds
        assert props["hs_call_external_id"] == "rec:crm:every_call"
        assert props["hs_call_recording_url"].startswith("https://")
        assert props["hs_timestamp"] == "2024-05-06T14:30:00Z"
        assert fake.associations == [(cid, contact, CALL_TO_CONTACT)]
        assert await c.log_call(activity, idempotency_key="rec:crm:every_call") == cid
        assert len(fake.calls) == 1
        assert (await c.check()).ok


# ---------------------------------------------------------------- jira


async def test_jira_issue_and_dedup(message: Notification) -> None:
    from connectors.jira import JiraConfig, JiraConnector, dedup_label
    from tests.fakes.crm import FakeJira

    with FakeJira("bot@acme.test", "tok") as fake:
        c = JiraConnector(
            JiraConfig(
                server=fake.url,
                email="bot@acme.test",
                api_token="tok",
                project="SUP",
                labels=["calls"],
            )
        )
        key = await c.notify(message, idempotency_key="rec:jira:every_call")
        assert key == "SUP-1"
        fields = fake.issues[key]
        assert fields["issuetype"] == {"name": "Task"}
        assert fields["summary"] == message.title
        assert "cancel my subscription" in fields["description"]
        assert message.link_url in fields["description"]
        assert (
            "calls" in fields["labels"] and dedup_label("rec:jira:every_call") in fields["labels"]
        )
        assert await c.notify(message, idempotency_key="rec:jira:every_call") == "SUP-1"
        assert len(fake.issues) == 1
        assert (await c.check()).ok


# ---------------------------------------------------------------- google sheets


async def test_gsheets_header_then_rows_raw_and_dedup(activity: CallActivity) -> None:
    from connectors.gsheets import DEFAULT_COLUMNS, GsheetsConfig, GsheetsConnector
    from tests.fakes.crm import FakeSheets

    with FakeSheets() as fake:
        c = GsheetsConnector(
            GsheetsConfig(
                spreadsheet_id=fake.spreadsheet_id, access_token=fake.token, api_base_url=fake.url
            )
        )
        row = {**activity.row, "transcript_excerpt": '=HYPERLINK("http://evil")'}
        await c.append_row(row, idempotency_key="rec:sheet:every_call")
        assert fake.rows[0] == ["key", *DEFAULT_COLUMNS]
        assert fake.rows[1][0] == "rec:sheet:every_call"
        assert fake.rows[1][1] == activity.recording_id
        appends = fake.seen("POST", ":append")
        assert all(r.q("valueInputOption") == "RAW" for r in appends)
        await c.append_row(row, idempotency_key="rec:sheet:every_call")  # dedup
        await c.append_row(row, idempotency_key="rec2:sheet:every_call")
        assert len(fake.rows) == 3
        assert (await c.check()).ok


async def test_gsheets_missing_worksheet_is_config_error(activity: CallActivity) -> None:
    from connectors.gsheets import GsheetsConfig, GsheetsConnector
    from tests.fakes.crm import FakeSheets

    with FakeSheets() as fake:
        c = GsheetsConnector(
            GsheetsConfig(
                spreadsheet_id=fake.spreadsheet_id,
                worksheet="Nope",
                access_token=fake.token,
                api_base_url=fake.url,
            )
        )
        with pytest.raises(ConfigError):
            await c.append_row(activity.row, idempotency_key="k")


def _unused(*_: Any) -> None:  # keep imports used by type hints only
    json.dumps(NotificationField(label="a", value="b").model_dump())
