"""Hardening of the portal's edge: no body read before authentication and size checks, a global
body cap that holds for chunked bodies, X-Forwarded-For believed only from configured proxies
(tested on the real `recflow portal` process, where uvicorn's own defaults used to trust it),
and allow-list entries validated wherever they enter."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from catalog.models import AccountSettings
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from portal.app import create_app
from portal.settings import PortalSettings
from services.config.base import ConfigFileError
from services.config.document import apply_document


def asgi_call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes] | None = None,
) -> tuple[int, int, bytes]:
    """Drive the ASGI app directly: (status, how many body chunks the app pulled, body)."""
    pulled = 0
    queue = list(chunks or [])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if not queue:
            return {"type": "http.disconnect"}
        pulled += 1
        chunk = queue.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"portal.test"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], pulled, body


JSON = (b"content-type", b"application/json")


def test_unauthenticated_api_body_is_never_read(app) -> None:  # type: ignore[no-untyped-def]
    big = [b"[" + b"1," * 1000] * 50
    hdrs = [JSON, (b"content-length", str(100 * 1024 * 1024).encode())]
    status, pulled, body = asgi_call(app, "PUT", "/api/v1/contacts/+447700900999", hdrs, big)
    assert (status, pulled) == (401, 0) and b"unauthorized" in body
    bad = [*hdrs, (b"authorization", b"Bearer not-a-token")]
    status, pulled, _ = asgi_call(app, "PUT", "/api/v1/contacts/+447700900999", bad, big)
    assert (status, pulled) == (401, 0)
    # chunked (no Content-Length): the same, nothing pulled
    chunked = [JSON, (b"transfer-encoding", b"chunked")]
    status, pulled, _ = asgi_call(app, "POST", "/api/v1/sms", chunked, big)
    assert (status, pulled) == (401, 0)


def test_authenticated_api_body_capped_declared_and_streamed(catalog, clock) -> None:  # type: ignore[no-untyped-def]
    app = create_app(catalog, PortalSettings(max_body_bytes=4096), clock=clock)
    _, token = app.state.portal.tokens.create("t")
    auth = (b"authorization", f"Bearer {token}".encode())
    hdrs = [JSON, auth, (b"content-length", b"5000")]
    status, pulled, body = asgi_call(
        app, "PUT", "/api/v1/contacts/+447700900999", hdrs, [b"x" * 5000]
    )
    assert (status, pulled) == (413, 0) and b"4096" in body
    # a chunked body is counted as it arrives and refused once past the cap
    chunked = [JSON, auth, (b"transfer-encoding", b"chunked")]
    chunks = [b" " * 1000] * 20
    status, pulled, body = asgi_call(app, "PUT", "/api/v1/contacts/+447700900999", chunked, chunks)
    assert (status, pulled) == (413, 5) and b"4096" in body
    # within the cap it works, with the token looked up once by the guard and reused
    ok = [JSON, auth, (b"content-length", b"15")]
    status, _, body = asgi_call(
        app, "PUT", "/api/v1/contacts/+447700900999", ok, [b'{"name": "Bo"}'.ljust(15)]
    )
    assert status == 200, body


def test_anonymous_page_bodies_are_small(app, admin, clock) -> None:  # type: ignore[no-untyped-def]
    form = (b"content-type", b"application/x-www-form-urlencoded")
    status, pulled, _ = asgi_call(
        app, "POST", "/login", [form, (b"content-length", b"200000")], [b"a=" + b"b" * 199998]
    )
    assert (status, pulled) == (413, 0)
    # a login-sized form goes through to the route (which refuses the missing CSRF token)
    status, pulled, _ = asgi_call(
        app, "POST", "/login", [form, (b"content-length", b"9")], [b"email=a@b"]
    )
    assert status == 403 and pulled == 1
    # anything else anonymous gets 4 KiB: the route would only redirect to /login
    status, pulled, _ = asgi_call(
        app, "POST", "/account/security", [form, (b"content-length", b"10000")], [b"x" * 10000]
    )
    assert (status, pulled) == (413, 0)
    status, _, _ = asgi_call(app, "POST", "/login", [form, (b"content-length", b"12x")], [b""])
    assert status == 400


def test_allow_list_entries_validated_in_the_model(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"hello.*999\.1\.1\.1/8"):
        AccountSettings(ip_allow_list=["hello", "999.1.1.1/8"])
    with pytest.raises(ValidationError, match=r"127\.0\.0\.1/33"):
        AccountSettings(ip_allow_list=["127.0.0.1/33"])
    assert AccountSettings(ip_allow_list=["10.1.2.3/8", "192.0.2.1", "::1"]).ip_allow_list == [
        "10.0.0.0/8",
        "192.0.2.1/32",
        "::1/128",
    ]
    cat = Catalog.open(RecflowSettings(data_dir=tmp_path, secret_key="k"))
    with pytest.raises(ConfigFileError) as e:
        apply_document(cat, {"account": {"ip_allow_list": ["hello", "999.1.1.1/8"]}})
    assert "account.ip_allow_list" in str(e.value.problems) and "hello" in str(e.value.problems)
    assert cat.account().ip_allow_list == []
    apply_document(cat, {"account": {"ip_allow_list": ["10.1.2.3/8"]}})
    assert cat.account().ip_allow_list == ["10.0.0.0/8"]
    # idempotent: the normalised form applies as no change
    assert apply_document(cat, {"account": {"ip_allow_list": ["10.0.0.0/8"]}}) == []
    with pytest.raises(ValidationError, match="bogus"):
        PortalSettings(trusted_proxies=["bogus"])
    cat.db.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp: Path, proxies: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "RECFLOW_DATA_DIR": str(tmp), "RECFLOW_SECRET_KEY": "hardening-test"}
    env.pop("RECFLOW_PORTAL_TRUSTED_PROXIES", None)
    env.pop("FORWARDED_ALLOW_IPS", None)
    if proxies is not None:
        env["RECFLOW_PORTAL_TRUSTED_PROXIES"] = proxies
    recflow = Path(sys.executable).with_name("recflow")
    proc = subprocess.Popen(
        [str(recflow), "portal", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=2)
            return proc, base
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                why = proc.stderr.read().decode() if proc.stderr else "no portal"
                raise RuntimeError(why) from None
            time.sleep(0.2)


def test_forged_forwarded_for_does_not_pass_the_allow_list_on_the_served_portal(
    tmp_path: Path,
) -> None:
    cat = Catalog.open(RecflowSettings(data_dir=tmp_path, secret_key="hardening-test"))
    acct = cat.account()
    acct.ip_allow_list = ["10.0.0.0/8"]
    cat.save_account(acct)
    cat.db.dispose()
    proc, base = _serve(tmp_path, None)
    try:
        assert httpx.get(f"{base}/login").status_code == 403
        forged = httpx.get(f"{base}/login", headers={"X-Forwarded-For": "10.1.2.3"})
        assert forged.status_code == 403
        api = httpx.get(f"{base}/api/v1/recordings", headers={"X-Forwarded-For": "10.1.2.3"})
        assert api.status_code == 403
        # the whole 100 MB goes unread: refused by the allow-list before the guard even runs
        big = httpx.put(
            f"{base}/api/v1/contacts/+447700900999",
            content=b"1" * (100 * 1024 * 1024),
            headers={"X-Forwarded-For": "10.1.2.3"},
        )
        assert big.status_code == 403
    finally:
        proc.terminate()
        proc.wait(10)
    # with 127.0.0.1 configured as the proxy its header is believed (and only from it)
    proc, base = _serve(tmp_path, "127.0.0.1")
    try:
        assert httpx.get(f"{base}/login").status_code == 403
        assert (
            httpx.get(f"{base}/login", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200
        )
        spoof = httpx.get(f"{base}/login", headers={"X-Forwarded-For": "10.1.2.3, 192.0.2.7"})
        assert spoof.status_code == 403  # the first untrusted hop from the right is the client
    finally:
        proc.terminate()
        proc.wait(10)


def test_unauthenticated_100mb_body_refused_early_on_the_served_portal(tmp_path: Path) -> None:
    proc, base = _serve(tmp_path, None)
    try:
        r = httpx.put(
            f"{base}/api/v1/contacts/+447700900999",
            content=b"[" + b"1," * 50_000_000 + b"1]",
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    finally:
        proc.terminate()
        proc.wait(10)


def test_monthly_csv_with_an_absurd_year_is_a_4xx(app) -> None:  # type: ignore[no-untyped-def]
    """schemathesis found ``GET /api/v1/sms/monthly/103401917441055/10`` -> 500."""
    from fastapi.testclient import TestClient

    _, token = app.state.portal.tokens.create("t")
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {token}"}
    for path in ("/sms/monthly/103401917441055/10", "/sms/monthly/2026/13", "/sms/monthly/0/1"):
        r = client.get(f"/api/v1{path}", headers=auth)
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", (path, r.text)
    assert client.get("/api/v1/sms/monthly/2026/3", headers=auth).status_code == 200


def test_every_login_answer_costs_one_password_hash(app, admin, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Unknown email, wrong password, locked and disabled accounts do the same work (one
    argon2 verification), so their answer times do not tell them apart. Counted, not timed."""
    import catalog.users as users_mod

    calls: list[str] = []
    real = users_mod._verify

    def counting(hashed: str, password: str) -> bool:
        calls.append(hashed)
        return real(hashed, password)

    monkeypatch.setattr(users_mod, "_verify", counting)
    users = app.state.portal.users
    outcomes = []
    for email, password in [
        ("nobody@example.com", "x"),
        (admin.email, "wrong-password"),
    ]:
        calls.clear()
        outcomes.append((users.authenticate(email, password, clock.now).reason, len(calls)))
    for _ in range(5):  # lock the account
        users.authenticate(admin.email, "wrong-password", clock.now)
    calls.clear()
    outcomes.append(
        (users.authenticate(admin.email, "wrong-password", clock.now).reason, len(calls))
    )
    assert outcomes == [("bad_credentials", 1), ("bad_credentials", 1), ("locked", 1)]


def test_openapi_declares_bearer_auth_and_no_blank_swagger_page(app) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    client = TestClient(app)
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token: `recflow tokens create NAME` (shown once)",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    assert client.get("/api/v1/docs").status_code == 404
