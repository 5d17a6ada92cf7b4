"""A small threaded HTTP(S) server for wire-level fakes of vendor APIs.

Each fake registers routes (method + path regex → handler) and keeps every request it saw, so
tests assert on what the official SDK really sent. ``fail_next`` injects faults (a status with
headers, or a delay longer than the client's timeout) for error-mapping tests. Binds 127.0.0.1 on
a free port; ``tls=True`` serves HTTPS with a throwaway trustme CA (``ca_file``).
"""

from __future__ import annotations

import json
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    def q(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


@dataclass
class Response:
    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    path_contains: str = ""
    times: int = 1


Handler = Callable[[Request, "re.Match[str]"], Response]


class FakeHTTPServer:
    def __init__(self, *, tls: bool = False) -> None:
        self.requests: list[Request] = []
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="fakehttp-")
        self.ca_file = ""
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                parts = urlsplit(self.path)
                req = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                resp = fake._dispatch(req)
                data = (
                    resp.body
                    if resp.body is not None
                    else (b"" if resp.json is None else json.dumps(resp.json).encode())
                )
                if isinstance(data, str):
                    data = data.encode()
                try:
                    self.send_response(resp.status)
                    if resp.json is not None and "Content-Type" not in resp.headers:
                        self.send_header("Content-Type", "application/json")
                    for k, v in resp.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("localhost", "127.0.0.1")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(ctx)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.ca_file = str(Path(self._tmp.name) / "ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------ API for tests

    @property
    def url(self) -> str:
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}"

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.append((method, re.compile(pattern), fn))
            return fn

        return deco

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        path_contains: str = "",
    ) -> None:
        with self.lock:
            self.faults.append(Fault(status, headers or {}, body, delay, path_contains, times))

    def seen(self, method: str | None = None, path_contains: str = "") -> list[Request]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and path_contains in r.path
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> FakeHTTPServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _take_fault(self, req: Request) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.path_contains in req.path:
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    def _dispatch(self, req: Request) -> Response:
        with self.lock:
            self.requests.append(req)
        fault = self._take_fault(req)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            body = (
                fault.body
                if fault.body is not None
                else {
                    "error": {
                        "code": fault.status,
                        "message": "injected fault",
                        "status": "INJECTED",
                    }
                }
            )
            if isinstance(body, dict | list):
                return Response(fault.status, json=body, headers=fault.headers)
            return Response(fault.status, body=body, headers=fault.headers)
        for method, pattern, fn in self.routes:
            if method == req.method:
                m = pattern.fullmatch(req.path)
                if m:
                    try:
                        return fn(req, m)
                    except Exception as e:  # a bug in a fake must show up, not hang
                        return Response(599, json={"fake_error": repr(e)})
        return Response(404, json={"error": f"fake has no route {req.method} {req.path}"})


def bearer(req: Request) -> str:
    auth = req.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else ""
