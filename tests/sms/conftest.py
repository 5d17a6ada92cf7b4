"""Fixtures of the SMS tests: a fresh catalog per test and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.db import Database
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.store import LocalStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sms_catalog(tmp_path: Path) -> Iterator[Catalog]:
    settings = RecflowSettings(data_dir=tmp_path / "data")
    db = Database(settings.resolved_database_url)
    yield Catalog(db, LocalStore(tmp_path / "data" / "recordings"), settings)
    db.dispose()


class SmtpSink:
    """Collects what a real SMTP server accepted; ``fail_next`` answers that many DATA commands
    with a transient 451, as a busy relay would."""

    def __init__(self) -> None:
        self.envelopes: list[object] = []
        self.fail_next = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            return "451 4.3.0 try again later"
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[object]:
        import email
        from email import policy

        return [
            email.message_from_bytes(e.content, policy=policy.default)  # type: ignore[attr-defined]
            for e in self.envelopes
        ]


@pytest.fixture
def smtp_sink() -> Iterator[tuple[SmtpSink, int]]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield sink, port
    finally:
        ctl.stop()
