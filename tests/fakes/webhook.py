"""Fake generic webhook receiver and Microsoft Teams webhook (records every request)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.http import FakeHTTPServer, Request, Response


class FakeWebhook(FakeHTTPServer):
    """Accepts any method on /hook…; answers 200 with {"id": n}."""

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        ids = itertools.count(1)
        self.received: list[Request] = []

        def handle(req: Request, _m: Any) -> Response:
            if req.method != "HEAD":
                self.received.append(req)
            return Response(200, json={"id": f"evt-{next(ids)}"})

        for method in ("POST", "PUT", "GET", "HEAD"):
            self.route(method, r"/hook.*")(handle)

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"


class FakeTeams(FakeHTTPServer):
    """A Workflows webhook: POST an Adaptive Card envelope, get 202 and a request id."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, Any]] = []
        ids = itertools.count(1)

        @self.route("POST", r"/workflows/.+")
        def post(req: Request, _m: Any) -> Response:
            body = req.json()
            att = (body or {}).get("attachments") or []
            if body.get("type") != "message" or not att:
                return Response(400, json={"error": "expected a message with attachments"})
            self.cards.append(body)
            return Response(202, body=b"", headers={"x-ms-request-id": f"req-{next(ids)}"})

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/workflows/abc123/triggers/manual/paths/invoke?sig=SECRETSIG"
