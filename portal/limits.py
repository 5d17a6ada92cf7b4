"""No work before authentication: an ASGI middleware that decides on a request body before any
of it is read.

For every request that carries a body (``Content-Length`` > 0 or chunked):

* ``/api/...``: the bearer token is verified first; without a valid one the answer is 401 and
  not one byte of the body is read. The verified token is left in ``request.state.api_token``
  so the route's dependency does not look it up twice.
* pages: a caller without a validly signed session cookie (someone on the login forms) may send
  at most ``anonymous_body_bytes``; a logged-in browser up to ``max_body_bytes``.
* a declared ``Content-Length`` above the caller's limit is answered 413 at once; a chunked body
  is counted as it streams and refused (413) the moment it passes the limit, so the limit holds
  whatever the client declares.

It runs inside the allow-list gate (refused addresses never get this far) and outside every
route, so it covers routes added later too.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, PlainTextResponse, Response

from portal.deps import SESSION_COOKIE
from portal.state import PortalState

Scope = dict[str, Any]

# Page forms that take a body before anyone is logged in.
OPEN_PAGES = ("/login",)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyGuard:
    def __init__(self, app: Any, state: PortalState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        chunked = False
        auth = cookie = ""
        for name, value in scope["headers"]:
            if name == b"content-length":
                text = value.decode("latin-1").strip()
                if not text.isdigit() or len(text) > 18:
                    await self._refuse(scope, receive, send, 400, "bad Content-Length")
                    return
                length = int(text)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"authorization":
                auth = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
        if not chunked and not length:
            await self.app(scope, receive, send)
            return
        settings = self.state.settings
        limit = settings.anonymous_body_bytes
        path: str = scope.get("path", "")
        if path.startswith("/api/"):
            token = await self._token(auth)
            if token is None:
                await self._refuse(
                    scope,
                    receive,
                    send,
                    401,
                    "missing or invalid bearer token",
                    headers={"WWW-Authenticate": 'Bearer realm="recflow"'},
                )
                return
            scope.setdefault("state", {})["api_token"] = token
            limit = settings.max_body_bytes
        elif self._has_session(cookie):
            limit = settings.max_body_bytes
        elif not path.startswith(OPEN_PAGES):
            # not logged in and not a login form: the route would only redirect to /login
            limit = min(limit, 4096)
        if length is not None and length > limit:
            await self._refuse(scope, receive, send, 413, f"request body larger than {limit} bytes")
            return
        await self.app(scope, _counting(receive, limit), send)

    async def _token(self, header: str) -> Any:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        st = self.state
        return await run_in_threadpool(st.tokens.verify, value.strip(), st.clock())

    def _has_session(self, cookie_header: str) -> bool:
        """A validly signed, unexpired session cookie (signature only: no database read)."""
        if not cookie_header:
            return False
        value = cookie_parser(cookie_header).get(SESSION_COOKIE)
        if not value:
            return False
        st = self.state
        return st.signer.unsign_session(value, st.session_max_age_seconds) is not None

    @staticmethod
    async def _refuse(
        scope: Scope,
        receive: Any,
        send: Any,
        status: int,
        reason: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        # the body stays unread: tell the client this connection ends with the answer
        hdrs = {"Connection": "close", **(headers or {})}
        response: Response
        if scope.get("path", "").startswith("/api/"):
            slug = {400: "bad_request", 401: "unauthorized", 413: "payload_too_large"}[status]
            response = JSONResponse({"error": slug, "reason": reason}, status, headers=hdrs)
        else:
            response = PlainTextResponse(f"{status}: {reason}", status, headers=hdrs)
        await response(scope, receive, send)


def _counting(receive: Any, limit: int) -> Any:
    seen = 0

    async def counted() -> dict[str, Any]:
        nonlocal seen
        message: dict[str, Any] = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return counted
