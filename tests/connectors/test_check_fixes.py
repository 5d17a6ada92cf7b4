"""Test buttons report what deliveries would: a receiver without HEAD is reachable (no more
`cannot_connect HTTP 501`), and the docs' `xoxb-…` placeholder is a clear config error instead
of a UnicodeEncodeError."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from connectors.base import ConfigError, Notification


class _PostOnly(BaseHTTPRequestHandler):
    """What many small receivers are: do_POST only, so HEAD and OPTIONS answer 501."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a: Any) -> None:
        pass


@pytest.fixture
def post_only() -> Any:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _PostOnly)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()
    srv.server_close()


async def test_webhook_check_passes_for_a_post_only_receiver(post_only: str) -> None:
    from connectors.webhook import WebhookConfig, WebhookConnector

    c = WebhookConnector(WebhookConfig(url=post_only))
    result = await c.check()
    assert result.ok and "501" in result.message, result
    # and the delivery itself works, as the check now says
    assert await c.notify(Notification(title="t", text="x"), idempotency_key="k") == "http-200"


async def test_webhook_check_still_fails_for_what_a_delivery_would_fail() -> None:
    from connectors.webhook import WebhookConfig, WebhookConnector
    from tests.fakes.http import FakeHTTPServer

    with FakeHTTPServer() as fake:
        c = WebhookConnector(WebhookConfig(url=fake.url + "/hook", timeout=2))
        fake.fail_next(401)
        assert (await c.check()).code == "invalid_auth"
        fake.fail_next(503)
        assert (await c.check()).code == "cannot_connect"
        port = fake.port
    gone = WebhookConnector(WebhookConfig(url=f"http://127.0.0.1:{port}/hook", timeout=2))
    assert (await gone.check()).code == "cannot_connect"


def test_slack_placeholder_token_is_a_clear_config_error() -> None:
    from connectors.slack import SlackConfig

    with pytest.raises(ValidationError, match="non-ASCII"):
        SlackConfig(token="xoxb-…", channel="#support")


async def test_slack_non_ascii_channel_maps_to_config_error() -> None:
    from connectors.slack import SlackConfig, SlackConnector

    c = SlackConnector(SlackConfig(token="xoxb-1", channel="#c", base_url="http://127.0.0.1:9/"))
    # a header value httpx/urllib cannot encode is a config problem, never a crash
    c.config.token = SecretStr("xoxb-…")  # stored before the validator existed
    with pytest.raises(ConfigError):
        await c.notify(Notification(title="t", text="x"), idempotency_key="k")
