"""Salesforce OAuth 2.0 flows against the TLS fake's token endpoint: client credentials (a
connected app's key and secret, My Domain) and JWT bearer (a certificate's private key), then the
call is logged with the token the endpoint gave; a wrong secret or key is `invalid_auth`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import AuthError, CallActivity
from tests.fakes.crm import FakeSalesforce


def _call() -> CallActivity:
    return CallActivity(
        recording_id="rec-oauth",
        external_number="+14155551212",
        subject="Inbound call",
        body="notes",
        started_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def _connector(fake: FakeSalesforce, **auth: object):  # type: ignore[no-untyped-def]
    from connectors.salesforce import SalesforceConfig, SalesforceConnector

    return SalesforceConnector(
        SalesforceConfig.model_validate(
            {"instance_url": fake.url, "domain": "acme.my", "login_url": fake.url,
             "ca_file": fake.ca_file, "consumer_key": fake.consumer_key, **auth}
        )
    )  # fmt: skip


async def test_client_credentials_flow() -> None:
    with FakeSalesforce("00Dcc!token") as fake:
        c = _connector(fake, consumer_secret=fake.consumer_secret)
        task_id = await c.log_call(_call(), idempotency_key="k")
        assert fake.records["Task"][task_id]["CallObject"] == "rec-oauth"
        assert fake.token_requests[0]["grant_type"] == "client_credentials"
        bad = _connector(fake, consumer_secret="wrong")
        with pytest.raises(AuthError, match="login refused"):
            await bad.log_call(_call(), idempotency_key="k2")
        assert (await bad.check()).code == "invalid_auth"


async def test_jwt_bearer_flow() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with FakeSalesforce("00Djwt!token") as fake:
        fake.jwt_public_key = key.public_key()
        c = _connector(fake, username="integration@acme.com", private_key=pem)
        assert (await c.check()).ok
        await c.log_call(_call(), idempotency_key="k")
        assert len(fake.records["Task"]) == 1
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fake.jwt_public_key = other.public_key()  # the certificate was rotated in Salesforce
        fake.token = "00Djwt!expired"  # and the session it gave has ended: a new login fails
        with pytest.raises(AuthError):
            await c.log_call(_call(), idempotency_key="k3")


def test_oauth_config_rules() -> None:
    from pydantic import ValidationError

    from connectors.salesforce import SalesforceConfig

    base = {"instance_url": "https://acme.my.salesforce.com"}
    with pytest.raises(ValidationError, match="My Domain"):
        SalesforceConfig(**base, consumer_key="k", consumer_secret="s")  # domain login
    with pytest.raises(ValidationError, match="needs username"):
        SalesforceConfig(**base, consumer_key="k", private_key="pem")
    with pytest.raises(ValidationError, match="need consumer_key"):
        SalesforceConfig(**base, domain="acme.my", consumer_secret="s")


async def test_oauth_session_is_reused_and_renewed_when_revoked() -> None:
    with FakeSalesforce("00Dreuse!token") as fake:
        c = _connector(fake, consumer_secret=fake.consumer_secret)
        await c.log_call(_call(), idempotency_key="a")
        await c.log_call(_call().model_copy(update={"recording_id": "r2"}), idempotency_key="b")
        assert len(fake.token_requests) == 1  # one login, not one per delivery
        fake.token = "00Dreuse!rotated"  # the session is revoked server-side
        await c.log_call(_call().model_copy(update={"recording_id": "r3"}), idempotency_key="c")
        assert len(fake.token_requests) == 2 and len(fake.records["Task"]) == 3
