"""Fake Slack Web API (``chat.postMessage``, ``auth.test``) and incoming webhooks."""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.http import FakeHTTPServer, Request, Response, bearer


class FakeSlack(FakeHTTPServer):
    def __init__(self, token: str = "xoxb-test-token", *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self.token = token
        self.posts: list[dict[str, Any]] = []
        self.hooks: list[dict[str, Any]] = []
        ts = itertools.count(1)

        @self.route("POST", r"/api/chat\.postMessage")
        def post(req: Request, _m: Any) -> Response:
            if bearer(req) != self.token:
                return Response(200, json={"ok": False, "error": "invalid_auth"})
            data = (
                req.json()
                if "json" in req.headers.get("content-type", "")
                else {k: v[0] for k, v in req.form().items()}
            )
            if not data.get("channel"):
                return Response(200, json={"ok": False, "error": "channel_not_found"})
            self.posts.append(data)
            return Response(
                200, json={"ok": True, "channel": "C0001", "ts": f"1700000000.{next(ts):06d}"}
            )

        @self.route("POST", r"/api/auth\.test")
        def auth_test(req: Request, _m: Any) -> Response:
            if bearer(req) != self.token:
                return Response(200, json={"ok": False, "error": "invalid_auth"})
            return Response(200, json={"ok": True, "user": "recflow-bot", "team": "T1"})

        @self.route("POST", r"/hooks/.+")
        def hook(req: Request, _m: Any) -> Response:
            self.hooks.append(req.json())
            return Response(200, body="ok", headers={"Content-Type": "text/plain"})

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/hooks/T000/B000/XXXXSECRET"
