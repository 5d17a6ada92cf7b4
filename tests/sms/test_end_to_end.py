"""The whole path on a running `recflow up`: SIP MESSAGE (with a retransmission) and
POST /api/v1/sms → catalog → one `sms-to-email` flow run each → exactly one email each at a
real SMTP server; then the CLI lists them and exports the month."""

from __future__ import annotations

import base64
import csv
import json
import socket
import time
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest

from tests.support import Stack, wait_until

pytestmark = pytest.mark.slow


def sip_message(sip_port: int, local_port: int, text: bytes, call_id: str) -> bytes:
    head = (
        f"MESSAGE sip:+441632960559@127.0.0.1:{sip_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{call_id[:10]};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:+447700900127@127.0.0.1>;tag={call_id[:8]}\r\n"
        "To: <sip:+441632960559@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        f"Content-Length: {len(text)}\r\n\r\n"
    )
    return head.encode() + text


def test_sip_and_api_sms_become_one_email_each(tmp_path, smtp_sink):
    sink, smtp_port = smtp_sink
    stack = Stack(tmp_path / "stack")
    cfg = tmp_path / "sms.yaml"
    cfg.write_text(
        "account: {name: Acceptance Test}\n"
        "connectors:\n"
        f"  - {{name: mail, kind: email, config: {{host: 127.0.0.1, port: {smtp_port}, "
        "from_address: recorder@check.example, starttls: false}}\n"
        "sms:\n"
        "  to_email: {enabled: true, to: sms-archive@check.example, connector: mail}\n"
        "contacts:\n"
        '  "+447700900127": Olive Sender\n'
    )
    stack.cli("config", "apply", str(cfg))
    token = stack.cli("tokens", "create", "sms-test").stdout.split()[0]
    stack.up()
    try:
        wait_until(lambda: _http_ok(stack.portal), 120, what="portal")
        sip_text = "Meet at 10:30 — café ☕ on Rue de l'Église, ok? مرحبا".encode()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        u.settimeout(5)
        req = sip_message(stack.sip, u.getsockname()[1], sip_text, f"{uuid.uuid4().hex}@e2e")
        u.sendto(req, ("127.0.0.1", stack.sip))
        assert u.recv(65535).startswith(b"SIP/2.0 200")
        u.sendto(req, ("127.0.0.1", stack.sip))  # a retransmission: same Call-ID
        assert u.recv(65535).startswith(b"SIP/2.0 200")
        u.close()

        api_text = "Via the API: 👍🏽 שלום"
        body = json.dumps(
            {
                "subscriber": "+441632960559",
                "from": "+15550001111",
                "to": "+441632960559",
                "timestamp": datetime.now(UTC).isoformat(),
                "text": api_text,
            }
        ).encode()
        for _ in range(2):  # a client retry
            r = urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{stack.portal}/api/v1/sms",
                    data=body,
                    method="POST",
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                ),
                timeout=10,
            )
            assert r.status in (200, 201)

        wait_until(lambda: len(sink.envelopes) >= 2, 180, what="two emails")
        time.sleep(3)  # anything extra would arrive now
        msgs = sink.messages()
        assert len(msgs) == 2, stack.log_tail()
        by_from = {m["X-O2MR-SMS-FROM"]: m for m in msgs}
        sip_mail, api_mail = by_from["+447700900127"], by_from["+15550001111"]
        for m, text in ((sip_mail, sip_text.decode()), (api_mail, api_text)):
            b64 = m.get_body(("plain",)).get_content().replace("\r\n", "\n").split("\n\n", 1)[1]
            b64 = "".join(b64.split())
            assert base64.b64decode(b64).decode() == text
            assert m["X-O2MR-SMS-SUBSCRIBER"] == "+441632960559"
            assert m["X-O2MR-SMS-TO"] == "+441632960559"
        assert "(Olive Sender)" in sip_mail["Subject"]
        assert "(" not in api_mail["Subject"].split(" to ")[0]

        listed = json.loads(stack.cli("sms", "list", "--json").stdout)
        assert len(listed) == 2 and {s["status"] for s in listed} == {"processed"}
        assert {s["id"] for s in listed} == {m["X-O2MR-Interaction-ID"] for m in msgs}

        now = datetime.now(UTC)
        out = stack.cli("sms", "export", "--month", f"{now:%Y-%m}", "--out", str(tmp_path / "csv"))
        assert "(2 SMS)" in out.stdout
        [path] = (tmp_path / "csv").glob("*.csv")
        assert path.name == f"Acceptance-Test_SMSMessages_{now:%Y_%m}.csv"
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert sorted(r[4] for r in rows[1:]) == sorted([sip_text.decode(), api_text])
    finally:
        stack.down()


def _http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False
