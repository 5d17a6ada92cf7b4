"""The shared contract suite: runs over EVERY connector the registry discovers (ours, the
transcription engines, third-party plugins), plus an error-mapping table over the HTTP ones."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from connectors import registry
from connectors.base import (
    CAPABILITY_PROTOCOLS,
    AuthError,
    CallActivity,
    Connector,
    ConnectorConfig,
    Notification,
    PermanentError,
    RetriableError,
    secret_fields,
)

KINDS = sorted(registry.available())
SECRET = "sEcReT-VaLuE-1234567890"

# A valid config per kind of ours, with every secret field set to SECRET (for leak tests).
SAMPLES: dict[str, dict[str, Any]] = {
    "slack": {
        "token": SECRET,
        "channel": "#c",
        "webhook_url": f"https://hooks.slack.test/{SECRET}",
    },
    "email": {"host": "smtp.test", "from_address": "a@b.test", "username": "u", "password": SECRET},
    "teams": {"webhook_url": f"https://teams.test/{SECRET}"},
    "webhook": {
        "url": "https://hook.test/",
        "signing_secret": SECRET,
        "secret_headers": {"Authorization": SECRET},
    },
    "salesforce": {
        "instance_url": "https://x.my.salesforce.com",
        "access_token": SECRET,
        "password": SECRET,
        "security_token": SECRET,
        "username": "u",
        "domain": "x.my",
        "consumer_key": "k",
        "consumer_secret": SECRET,
        "private_key": SECRET,
    },
    "hubspot": {"access_token": SECRET},
    "jira": {
        "server": "https://j.test",
        "email": "e",
        "api_token": SECRET,
        "personal_access_token": SECRET,
        "project": "P",
    },
    "gsheets": {
        "spreadsheet_id": "s",
        "access_token": SECRET,
        "service_account_json": json.dumps({"private_key": SECRET}),
    },
    "excel": {"path": "/tmp/recflow-contract/calls.xlsx"},
    "apprise": {"urls": [f"json://127.0.0.1/{SECRET}", f"tgram://123456:{SECRET}/987"]},
    "prefect_block": {"block": "slack-webhook/ops"},
    "linear": {"api_key": SECRET, "team_id": "t"},
    "clickup": {"api_token": SECRET, "list_id": "1"},
    "zendesk": {"url": "https://acme.zendesk.com", "email": "a@b.test", "api_token": SECRET,
                "oauth_token": SECRET},
    "freshdesk": {"url": "https://acme.freshdesk.com", "api_key": SECRET},
    "dynamics365": {"instance_url": "https://acme.crm.dynamics.com", "tenant_id": "t",
                    "client_id": "c", "client_secret": SECRET},
}  # fmt: skip


def sample_config(cls: type[Connector]) -> ConnectorConfig:
    if cls.kind in SAMPLES:
        return cls.config_model.model_validate(SAMPLES[cls.kind])
    # a connector we do not know (a plugin, the transcription engines): secrets set to SECRET
    data: dict[str, Any] = {name: SECRET for name in secret_fields(cls.config_model)}
    for name, field in cls.config_model.model_fields.items():
        if field.is_required() and name not in data:
            data[name] = {int: 1, float: 1.0, bool: False}.get(field.annotation, "sample")  # type: ignore[call-overload]
    try:
        return cls.config_model.model_validate(data)
    except Exception:
        pytest.skip(f"{cls.kind}: no sample config known for a required non-secret field")


def test_all_eight_and_the_transcribers_are_discovered() -> None:
    for kind in ("slack", "email", "teams", "webhook", "salesforce", "hubspot", "jira", "gsheets"):
        assert kind in KINDS
    for kind in ("linear", "clickup", "dynamics365", "zendesk", "freshdesk", "excel", "apprise",
                 "prefect_block"):  # fmt: skip
        assert kind in KINDS
    assert registry.load_errors() == []


@pytest.mark.parametrize("kind", KINDS)
def test_identity_and_schema(kind: str) -> None:
    cls = registry.get(kind)
    assert cls.kind == kind and cls.display_name
    assert cls.__module__.rsplit(".", 1)[-1] == kind or not cls.__module__.startswith("connectors.")
    schema = cls.config_model.model_json_schema()  # the portal renders its form from this
    assert schema["type"] == "object"
    assert cls.config_model.model_config.get("extra") == "forbid"
    for name, field in cls.config_model.model_fields.items():
        assert field.description, f"{kind}.{name} has no description (portal help text)"
    for name in secret_fields(cls.config_model):
        prop = schema["properties"][name]
        text = json.dumps(prop)
        assert '"password"' in text or "writeOnly" in text, f"{kind}.{name} not marked secret"


@pytest.mark.parametrize("kind", KINDS)
def test_capabilities_match_methods(kind: str) -> None:
    cls = registry.get(kind)
    assert cls.capabilities, f"{kind} declares no capability"
    for cap, proto in CAPABILITY_PROTOCOLS.items():
        methods = [n for n in dir(proto) if not n.startswith("_") and callable(getattr(proto, n))]
        has = all(inspect.iscoroutinefunction(getattr(cls, m, None)) for m in methods)
        assert has == (cap in cls.capabilities), f"{kind}: capability {cap} vs methods {methods}"
    assert inspect.iscoroutinefunction(cls.check) and inspect.iscoroutinefunction(cls.aclose)


@pytest.mark.parametrize("kind", KINDS)
def test_secrets_never_in_repr_json_or_logs(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    cls = registry.get(kind)
    config = sample_config(cls)
    connector = cls(config, name="leak-check")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("built %r with %s", connector, config)
    printable = [
        repr(connector),
        str(config),
        repr(config),
        config.model_dump_json(),
        json.dumps(config.model_dump(mode="json")),
        caplog.text,
    ]
    for text in printable:
        assert SECRET not in text
    for name in secret_fields(cls.config_model):
        value = getattr(config, name)
        assert value is None or isinstance(value, SecretStr | dict)


# ---------------------------------------------------------------- error-mapping table


def _slack(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.slack import SlackConfig, SlackConnector

    c = SlackConnector(SlackConfig(token="t", channel="#c", base_url=url + "/api/", timeout=1))
    return c, lambda c: c.notify(Notification(title="t", text="x"), idempotency_key="k")


def _teams(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.teams import TeamsConfig, TeamsConnector

    c = TeamsConnector(TeamsConfig(webhook_url=url + "/w", timeout=1))
    return c, lambda c: c.notify(Notification(title="t", text="x"), idempotency_key="k")


def _webhook(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.webhook import WebhookConfig, WebhookConnector

    c = WebhookConnector(WebhookConfig(url=url + "/h", timeout=1))
    return c, lambda c: c.notify(Notification(title="t", text="x"), idempotency_key="k")


def _activity() -> CallActivity:
    from datetime import UTC, datetime

    return CallActivity(
        recording_id="r",
        external_number="+14155551212",
        subject="s",
        body="b",
        started_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def _hubspot(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.hubspot import HubspotConfig, HubspotConnector

    c = HubspotConnector(HubspotConfig(access_token="t", host=url, timeout=1))
    return c, lambda c: c.log_call(_activity(), idempotency_key="k")


def _jira(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.jira import JiraConfig, JiraConnector

    c = JiraConnector(JiraConfig(server=url, email="e", api_token="t", project="P", timeout=1))
    return c, lambda c: c.notify(Notification(title="t", text="x"), idempotency_key="k")


def _gsheets(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.gsheets import GsheetsConfig, GsheetsConnector

    c = GsheetsConnector(
        GsheetsConfig(spreadsheet_id="s", access_token="t", api_base_url=url, timeout=1)
    )
    return c, lambda c: c.append_row({"a": "b"}, idempotency_key="k")


def _salesforce(url: str, ca: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.salesforce import SalesforceConfig, SalesforceConnector

    c = SalesforceConnector(
        SalesforceConfig(instance_url=url, access_token="t", ca_file=ca, timeout=1)
    )
    return c, lambda c: c.log_call(_activity(), idempotency_key="k")


def _linear(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.linear import LinearConfig, LinearConnector

    c = LinearConnector(LinearConfig(api_key="k", team_id="t", api_url=url + "/graphql", timeout=1))
    return c, lambda c: c.notify(Notification(title="t", text="x"), idempotency_key="k")


def _clickup(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.clickup import ClickupConfig, ClickupConnector

    c = ClickupConnector(ClickupConfig(api_token="k", list_id="1", api_url=url, timeout=1))
    return c, lambda c: c.notify(Notification(title="t", text="x"), idempotency_key="k")


def _zendesk(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.zendesk import ZendeskConfig, ZendeskConnector

    c = ZendeskConnector(ZendeskConfig(url=url, email="e", api_token="t", timeout=1))
    return c, lambda c: c.log_call(_activity(), idempotency_key="k")


def _freshdesk(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.freshdesk import FreshdeskConfig, FreshdeskConnector

    c = FreshdeskConnector(FreshdeskConfig(url=url, api_key="k", timeout=1))
    return c, lambda c: c.log_call(_activity(), idempotency_key="k")


def _dynamics365(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.dynamics365 import Dynamics365Config, Dynamics365Connector, _tokens

    _tokens.clear()
    c = Dynamics365Connector(
        Dynamics365Config(instance_url=url, authority_url=url, tenant_id="t", client_id="c",
                          client_secret="s", timeout=1)
    )  # fmt: skip
    return c, lambda c: c.log_call(_activity(), idempotency_key="k")


def _apprise(url: str) -> tuple[Connector, Callable[[Connector], Any]]:
    from connectors.apprise import AppriseConfig, AppriseConnector

    host = url.split("://", 1)[1]
    c = AppriseConnector(AppriseConfig(urls=f"json://{host}/n?cto=1&rto=1"))
    # a fresh idempotency key each time: apprise remembers targets that succeeded for a key
    keys = iter(range(1000))
    return c, lambda c: c.notify(Notification(title="t", text="x"), idempotency_key=str(next(keys)))


HTTP_CONNECTORS: dict[str, Callable[..., tuple[Connector, Callable[[Connector], Any]]]] = {
    "linear": _linear,
    "clickup": _clickup,
    "zendesk": _zendesk,
    "freshdesk": _freshdesk,
    "dynamics365": _dynamics365,
    "apprise": _apprise,
    "slack": _slack,
    "teams": _teams,
    "webhook": _webhook,
    "hubspot": _hubspot,
    "jira": _jira,
    "gsheets": _gsheets,
    "salesforce": _salesforce,
}

TABLE = [
    (401, {}, AuthError, None),
    (403, {}, AuthError, None),
    (404, {}, PermanentError, None),
    (429, {"Retry-After": "7"}, RetriableError, 7.0),
    (500, {}, RetriableError, None),
    (503, {"Retry-After": "2"}, RetriableError, 2.0),
    ("timeout", {}, RetriableError, None),
]


class _Expectation(BaseModel):
    status: Any
    error: Any
    retry_after: float | None


@pytest.mark.parametrize("kind", sorted(HTTP_CONNECTORS))
async def test_error_mapping_table(kind: str) -> None:
    from tests.fakes.http import FakeHTTPServer

    with FakeHTTPServer(tls=kind == "salesforce") as fake:
        args = (fake.url, fake.ca_file) if kind == "salesforce" else (fake.url,)
        connector, call = HTTP_CONNECTORS[kind](*args)
        for status, headers, error, retry_after in TABLE:
            if status == "timeout":
                fake.fail_next(200, delay=2.5, times=1)
            else:
                # every request fails, whichever endpoint the SDK reaches first
                fake.fail_next(status, headers=headers, times=1)
            with pytest.raises(error) as info:
                await call(connector)
            # salesforce/jira/apprise SDKs do not expose the Retry-After header
            if retry_after is not None and kind not in ("salesforce", "jira", "apprise"):
                assert info.value.retry_after == retry_after, (kind, status)  # type: ignore[attr-defined]
            fake.faults.clear()
