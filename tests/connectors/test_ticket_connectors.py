"""Linear, ClickUp, Zendesk, Freshdesk and Dynamics 365 against their wire-level fakes: what goes
over the wire, matching by phone, dedup on retry (one record however often a key is sent), and
credentials refused the way each vendor refuses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import AuthError, CallActivity, ConfigError, Notification, NotificationField
from tests.fakes.tickets import FakeClickUp, FakeDynamics, FakeFreshdesk, FakeLinear, FakeZendesk

CALLER = "+447700900124"


def _message() -> Notification:
    return Notification(
        title="Call from  +44 7700 900124\n(cancel)",
        text="Caller: I want to cancel.",
        markdown="**Caller:** I want to cancel.",
        fields=[NotificationField(label="From", value=CALLER)],
        link_url="https://recflow.example.com/recordings/r1",
        labels=["Keyword Alert"],
    )


def _call(number: str = "07700 900124", direction: str = "inbound") -> CallActivity:
    return CallActivity(
        recording_id="rec-1",
        direction=direction,
        from_number=number,
        from_name="Alice Caller",
        to_number="+441632960556",
        external_number=number,
        started_at=datetime(2024, 5, 6, 14, 30, tzinfo=UTC),
        ended_at=datetime(2024, 5, 6, 14, 31, 23, tzinfo=UTC),
        duration_seconds=83.4,
        subject="Inbound call from Alice Caller",
        body="Caller: I want to cancel <my> subscription.\nLink: https://recflow.example.com/r/1",
        recording_url="https://recflow.example.com/recordings/rec-1",
    )


# ---------------------------------------------------------------- Linear


async def test_linear_creates_one_issue_per_key_with_excerpt_and_link() -> None:
    from connectors.linear import LinearConfig, LinearConnector, issue_id

    with FakeLinear() as fake:
        c = LinearConnector(
            LinearConfig(api_key=fake.api_key, team_id=fake.team_id, api_url=fake.api_url)
        )
        first = await c.notify(_message(), idempotency_key="rec-1:linear:every_call")
        again = await c.notify(_message(), idempotency_key="rec-1:linear:every_call")
        other = await c.notify(_message(), idempotency_key="rec-2:linear:every_call")
        assert first == again == "ENG-1" and other == "ENG-2"
        assert len(fake.issues) == 2
        issue = fake.issues[issue_id("rec-1:linear:every_call")]
        assert issue["title"] == "Call from +44 7700 900124 (cancel)"
        assert "**Caller:** I want to cancel." in issue["description"]
        assert "(https://recflow.example.com/recordings/r1)" in issue["description"]
        # a personal API key goes in Authorization as it is (no Bearer)
        assert all(r.headers["authorization"] == fake.api_key for r in fake.seen("POST"))
        assert (await c.check()).ok


async def test_linear_bad_key_and_unknown_team() -> None:
    from connectors.linear import LinearConfig, LinearConnector

    with FakeLinear() as fake:
        bad = LinearConnector(
            LinearConfig(api_key="nope", team_id=fake.team_id, api_url=fake.api_url)
        )
        with pytest.raises(AuthError):
            await bad.notify(_message(), idempotency_key="k")
        assert (await bad.check()).code == "invalid_auth"
        lost = LinearConnector(
            LinearConfig(api_key=fake.api_key, team_id="x", api_url=fake.api_url)
        )
        assert (await lost.check()).code == "invalid_config"
        assert not fake.issues


# ---------------------------------------------------------------- ClickUp


async def test_clickup_task_dedup_by_key_tag() -> None:
    from connectors.clickup import ClickupConfig, ClickupConnector, dedup_tag

    with FakeClickUp() as fake:
        c = ClickupConnector(
            ClickupConfig(api_token=fake.token, list_id=fake.list_id, api_url=fake.url + "/api/v2")
        )
        a = await c.notify(_message(), idempotency_key="rec-1:cu:every_call")
        b = await c.notify(_message(), idempotency_key="rec-1:cu:every_call")
        assert a == b and len(fake.tasks) == 1
        task = fake.tasks[a]
        tags = [t["name"] for t in task["tags"]]
        assert dedup_tag("rec-1:cu:every_call") in tags and "keyword alert" in tags
        assert (
            "[Open in recflow](https://recflow.example.com/recordings/r1)"
            in (task["markdown_description"])
        )
        assert (await c.check()).ok
        bad = ClickupConnector(
            ClickupConfig(api_token="pk_bad", list_id="901", api_url=c.config.api_url)
        )
        assert (await bad.check()).code == "invalid_auth"


# ---------------------------------------------------------------- Zendesk


async def test_zendesk_ticket_for_known_requester_found_by_phone() -> None:
    from connectors.zendesk import ZendeskConfig, ZendeskConnector

    with FakeZendesk() as fake:
        known = fake.add_user("+44 7700 900124")
        c = ZendeskConnector(
            ZendeskConfig(url=fake.url, email=fake.email, api_token=fake.token, default_region="GB")
        )
        tid = await c.log_call(_call(), idempotency_key="rec-1:zd:every_call")
        assert await c.log_call(_call(), idempotency_key="rec-1:zd:every_call") == tid
        assert len(fake.tickets) == 1 and len(fake.users) == 1
        t = fake.tickets[int(tid)]
        assert t["requester_id"] == known and t["external_id"] == "rec-1:zd:every_call"
        assert t["comment"]["public"] is False and "cancel <my>" in t["comment"]["body"]
        assert (await c.check()).ok


async def test_zendesk_unknown_number_creates_end_user_once() -> None:
    from connectors.zendesk import ZendeskConfig, ZendeskConnector

    with FakeZendesk() as fake:
        c = ZendeskConnector(ZendeskConfig(url=fake.url, email=fake.email, api_token=fake.token))
        await c.log_call(_call("+14155551212"), idempotency_key="a")
        await c.log_call(_call("+1 (415) 555-1212"), idempotency_key="b")
        assert len(fake.tickets) == 2
        [user] = fake.users.values()
        assert user["phone"] == "+14155551212" and user["role"] == "end-user"
        bad = ZendeskConnector(ZendeskConfig(url=fake.url, email=fake.email, api_token="x"))
        with pytest.raises(AuthError):
            await bad.log_call(_call(), idempotency_key="c")


# ---------------------------------------------------------------- Freshdesk


async def test_freshdesk_phone_ticket_dedup_and_contact_match() -> None:
    from connectors.freshdesk import FreshdeskConfig, FreshdeskConnector

    with FakeFreshdesk() as fake:
        known = fake.add_contact(CALLER)
        c = FreshdeskConnector(
            FreshdeskConfig(url=fake.url, api_key=fake.api_key, default_region="GB")
        )
        tid = await c.log_call(_call(), idempotency_key="rec-1:fd:every_call")
        assert await c.log_call(_call(), idempotency_key="rec-1:fd:every_call") == tid
        assert len(fake.tickets) == 1 and len(fake.contacts) == 1
        t = fake.tickets[int(tid)]
        assert t["requester_id"] == known and t["source"] == 3
        assert "cancel &lt;my&gt; subscription.<br>" in t["description"]
        # a number nobody has: one new contact, reused by the next call
        await c.log_call(_call("+14155550000"), idempotency_key="x")
        await c.log_call(_call("+14155550000"), idempotency_key="y")
        assert len(fake.contacts) == 2 and len(fake.tickets) == 3
        assert (await c.check()).ok
        bad = FreshdeskConnector(FreshdeskConfig(url=fake.url, api_key="wrong"))
        assert (await bad.check()).code == "invalid_auth"


# ---------------------------------------------------------------- Dynamics 365


def _dyn(fake: FakeDynamics, **kw: object):  # type: ignore[no-untyped-def]
    from connectors.dynamics365 import Dynamics365Config, Dynamics365Connector

    values = {
        "instance_url": fake.url,
        "authority_url": fake.url,
        "tenant_id": fake.tenant,
        "client_id": fake.client_id,
        "client_secret": fake.secret,
        "default_region": "GB",
        **kw,
    }
    return Dynamics365Connector(Dynamics365Config.model_validate(values))


async def test_dynamics_phonecall_upsert_regarding_contact() -> None:
    from connectors.dynamics365 import _tokens, activity_id

    _tokens.clear()
    with FakeDynamics() as fake:
        lead = fake.add("lead", mobilephone=CALLER)
        contact = fake.add("contact", telephone1=CALLER, fullname="Alice")
        c = _dyn(fake)
        aid = await c.log_call(_call(CALLER), idempotency_key="rec-1:d365:every_call")
        assert aid == activity_id("rec-1:d365:every_call")
        assert await c.log_call(_call(CALLER), idempotency_key="rec-1:d365:every_call") == aid
        assert list(fake.phonecalls) == [aid]
        pc = fake.phonecalls[aid]
        assert pc["regardingobjectid_contact@odata.bind"] == f"/contacts({contact})"
        assert pc["phonecall_activity_parties"][0]["participationtypemask"] == 1
        assert pc["directioncode"] is False and pc["actualdurationminutes"] == 1
        assert (pc["statecode"], pc["statuscode"]) == (1, 2)
        assert fake.token_requests == 1  # cached across calls
        # no contact with the number: the lead is the match
        del fake.contacts[contact]
        aid2 = await c.log_call(_call(CALLER), idempotency_key="rec-2:d365:every_call")
        assert fake.phonecalls[aid2]["regardingobjectid_lead@odata.bind"] == f"/leads({lead})"
        assert (await c.check()).ok


async def test_dynamics_token_refreshed_when_revoked_and_bad_secret_is_auth() -> None:
    from connectors.dynamics365 import _tokens

    _tokens.clear()
    with FakeDynamics() as fake:
        c = _dyn(fake)
        assert (await c.check()).ok
        fake.tokens.clear()  # revoked server-side before its expiry
        assert (await c.check()).ok
        assert fake.token_requests == 2
        bad = _dyn(fake, client_secret="wrong")
        with pytest.raises(AuthError, match="invalid_client"):
            await bad.log_call(_call(), idempotency_key="k")
        assert (await bad.check()).code == "invalid_auth"


def test_configs_refuse_what_cannot_work() -> None:
    from pydantic import ValidationError

    from connectors.dynamics365 import Dynamics365Config
    from connectors.linear import LinearConfig
    from connectors.zendesk import ZendeskConfig

    with pytest.raises(ValidationError):
        LinearConfig(team_id="t")  # no credential
    with pytest.raises(ValidationError):
        ZendeskConfig(url="https://acme.zendesk.com", email="a@b")  # email without token
    with pytest.raises(ValidationError):
        Dynamics365Config(instance_url="acme", tenant_id="t", client_id="c", client_secret="s")
    assert ConfigError.code == "invalid_config"
