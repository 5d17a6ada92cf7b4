"""A real SMTP server (aiosmtpd) in-process: plain, STARTTLS, or implicit TLS, optional AUTH."""

from __future__ import annotations

import ssl
import tempfile
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


class FakeSMTP:
    def __init__(
        self,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.handler = _Handler()
        self._tmp = tempfile.TemporaryDirectory(prefix="fakesmtp-")
        self.ca_file = ""
        tls_ctx = None
        if starttls or implicit_tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("localhost", "127.0.0.1")
            tls_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(tls_ctx)
            self.ca_file = str(Path(self._tmp.name) / "ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)

        def authenticator(
            _server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and auth is not None
                and (data.login.decode(), data.password.decode()) == auth
            )
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {}
        if starttls:
            kwargs.update(tls_context=tls_ctx, require_starttls=True)
        if auth:
            kwargs.update(
                authenticator=authenticator, auth_require_tls=bool(starttls or implicit_tls)
            )
            if not (starttls or implicit_tls):
                kwargs["auth_require_tls"] = False
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=_free_port(),
            ssl_context=tls_ctx if implicit_tls else None,
            server_hostname="localhost",
            ready_timeout=10,
            **kwargs,
        )
        self.controller.start()
        self.port = self.controller.port

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def close(self) -> None:
        self.controller.stop()
        self._tmp.cleanup()

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
