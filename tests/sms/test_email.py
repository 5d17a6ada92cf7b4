"""SMS-to-email against a real SMTP server: the seed's layout, every header, the body decoding
to the original text, names in brackets only when known, and exactly one email per SMS."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest

from catalog.models import DeliveryStatus
from catalog.sms import (
    SmsEmailSettings,
    SmsSettings,
    ingest_sms,
    replace_contacts,
    save_sms_settings,
)
from connectors.base import RetriableError
from connectors.email import EmailConfig, EmailConnector
from services.retry import RetryPolicy
from services.sms import delivery_key, send_sms_email
from services.sms_format import build_sms_email

T0 = datetime(2025, 5, 3, 10, 30, 15, tzinfo=UTC)
TEXTS = {
    "ascii": "Meet at 10:30, ok?",
    "accents": "Rendez-vous au café à l'Église, señor Müller — ça va?",
    "emoji": "On my way 🚗💨 see you ☕🙂👍🏽",
    "rtl": "مرحبا، كيف حالك؟ שלום מה נשמע",
    "long": ("Ünïcødé 🙂 " * 200)[:1600],
}


def configure(catalog, port: int, **mail) -> EmailConnector:
    save_sms_settings(
        catalog,
        SmsSettings(
            to_email=SmsEmailSettings(
                enabled=True, to=["sms-archive@check.example"], connector="mail", **mail
            )
        ),
    )
    return EmailConnector(
        EmailConfig(
            host="127.0.0.1", port=port, from_address="recorder@check.example", starttls=False
        ),
        name="mail",
    )


def plain_body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def decoded_text(body: str) -> str:
    """The seed's body ends with the base64 of the message (wrapped at 76 columns)."""
    lines = body.strip().splitlines()
    b64 = []
    for line in reversed(lines):
        if not re.fullmatch(r"[A-Za-z0-9+/=]+", line):
            break
        b64.insert(0, line)
    return base64.b64decode("".join(b64)).decode("utf-8")


@pytest.mark.parametrize("kind", sorted(TEXTS))
async def test_email_reproduces_the_seed_layout(sms_catalog, smtp_sink, kind):
    sink, port = smtp_sink
    connector = configure(sms_catalog, port)
    replace_contacts(sms_catalog, {"+447700900127": "Olive Sender"})
    text = TEXTS[kind]
    sms = ingest_sms(
        sms_catalog,
        from_number="+447700900127",
        to_number="+441632960559",
        text=text,
        received_at=T0,
        call_id=f"{kind}@pbx",
        subscriber="+441632960559",
    )
    delivery = await send_sms_email(sms_catalog, sms, connector=connector)
    assert delivery is not None and delivery.status is DeliveryStatus.succeeded

    [envelope] = sink.envelopes
    assert envelope.mail_from == "recorder@check.example"
    assert envelope.rcpt_tos == ["sms-archive@check.example"]
    [msg] = sink.messages()
    assert msg["X-O2MR-Interaction-ID"] == sms.id
    assert msg["X-O2MR-SMS-SUBSCRIBER"] == "+441632960559"
    assert msg["X-O2MR-SMS-FROM"] == "+447700900127"
    assert msg["X-O2MR-SMS-TO"] == "+441632960559"
    assert msg["From"] == "recorder@check.example"
    assert msg["To"] == "sms-archive@check.example"
    assert msg["Message-ID"] == f"<sms-{sms.id}@check.example>"
    assert delivery.external_id == msg["Message-ID"]
    assert msg["Subject"] == "O2 MR SMS from +447700900127 (Olive Sender) to +441632960559"

    body = plain_body(msg)
    lines = body.splitlines()
    # static text + from with the known name; to without a name (none is known)
    assert lines[0] == "O2 MR SMS from +447700900127 (Olive Sender)"
    assert lines[1] == "To: +441632960559"
    assert lines[2] == "Time (UTC): 2025-05-03 10:30:15"
    assert lines[3] == "Email from: recorder@check.example"
    assert lines[4] == "Email to: sms-archive@check.example"
    assert decoded_text(body) == text
    assert all(len(line) <= 76 for line in lines)
    # the raw body on the wire is plain base64 text: no other transfer encoding to undo
    assert base64.b64encode(text.encode()).decode() in body.replace("\r", "").replace("\n", "")


async def test_names_in_brackets_only_when_known(sms_catalog, smtp_sink):
    sink, port = smtp_sink
    connector = configure(sms_catalog, port)
    replace_contacts(sms_catalog, {"+441632960559": "Zoë Receiver"})
    unknown = ingest_sms(
        sms_catalog, from_number="+15550001111", to_number="+15550002222", text="a", received_at=T0
    )
    named = ingest_sms(
        sms_catalog,
        from_number="+447700900127",
        to_number="+441632960559",
        text="b",
        received_at=T0,
        from_name="Signalled Name",
    )
    await send_sms_email(sms_catalog, unknown, connector=connector)
    await send_sms_email(sms_catalog, named, connector=connector)
    first, second = sink.messages()
    assert "(" not in plain_body(first).splitlines()[0] + plain_body(first).splitlines()[1]
    assert first["Subject"] == "O2 MR SMS from +15550001111 to +15550002222"
    # the signalled display name counts as known; the directory names the recipient
    assert plain_body(second).splitlines()[:2] == [
        "O2 MR SMS from +447700900127 (Signalled Name)",
        "To: +441632960559 (Zoë Receiver)",
    ]
    assert second["Subject"] == (
        "O2 MR SMS from +447700900127 (Signalled Name) to +441632960559 (Zoë Receiver)"
    )


async def test_exactly_one_email_across_retries(sms_catalog, smtp_sink):
    sink, port = smtp_sink
    connector = configure(sms_catalog, port)
    sms = ingest_sms(
        sms_catalog, from_number="+1555", to_number="+1666", text="once", received_at=T0
    )
    sink.fail_next = 1  # the relay is busy: a transient 451
    with pytest.raises(RetriableError):  # a policy of one attempt: the flow's retry comes later
        await send_sms_email(sms_catalog, sms, connector=connector, policy=RetryPolicy(attempts=1))
    failed = sms_catalog.get_delivery(delivery_key(sms.id))
    assert failed.status is DeliveryStatus.failed and failed.attempt == 1 and "451" in failed.error
    ok = await send_sms_email(sms_catalog, sms, connector=connector)
    assert ok.status is DeliveryStatus.succeeded and ok.attempt == 2
    # a re-run after success (a retried flow, a restart) sends nothing
    again = await send_sms_email(sms_catalog, sms, connector=connector)
    assert again.status is DeliveryStatus.succeeded
    assert len(sink.envelopes) == 1
    assert len(sms_catalog.list_deliveries(subject_id=sms.id)) == 1


async def test_a_transient_failure_is_retried_inside_one_send(sms_catalog, smtp_sink):
    sink, port = smtp_sink
    connector = configure(sms_catalog, port)
    sms = ingest_sms(
        sms_catalog, from_number="+1555", to_number="+1666", text="retry", received_at=T0
    )
    sink.fail_next = 1  # a transient 451, then the relay takes it
    policy = RetryPolicy(attempts=3, wait_initial=0.0, wait_jitter=0.0)
    ok = await send_sms_email(sms_catalog, sms, connector=connector, policy=policy)
    assert ok.status is DeliveryStatus.succeeded and ok.attempt == 2
    assert len(sink.envelopes) == 1
    assert len(sms_catalog.list_deliveries(subject_id=sms.id)) == 1


async def test_off_means_no_email(sms_catalog, smtp_sink):
    sink, port = smtp_sink
    connector = configure(sms_catalog, port)
    save_sms_settings(sms_catalog, SmsSettings())  # to_email disabled (the default)
    sms = ingest_sms(sms_catalog, from_number="+1", to_number="+2", text="x", received_at=T0)
    assert await send_sms_email(sms_catalog, sms, connector=connector) is None
    assert sink.envelopes == []


async def test_prefix_static_text_and_templates_are_settings(sms_catalog, smtp_sink):
    sink, port = smtp_sink
    connector = configure(
        sms_catalog,
        port,
        header_prefix="X-Acme-",
        static_text="ACME SMS from",
        subject_template="{{ static_text }} {{ from_number }} [{{ sms.direction }}]",
    )
    sms = ingest_sms(sms_catalog, from_number="+1", to_number="+2", text="hi", received_at=T0)
    await send_sms_email(sms_catalog, sms, connector=connector)
    [msg] = sink.messages()
    assert msg["X-Acme-Interaction-ID"] == sms.id and msg["X-O2MR-Interaction-ID"] is None
    assert msg["X-Acme-SMS-FROM"] == "+1"
    assert msg["Subject"] == "ACME SMS from +1 [inbound]"
    assert plain_body(msg).splitlines()[0] == "ACME SMS from +1"


def test_user_template_override_in_data_dir(sms_catalog, tmp_path, monkeypatch):
    from templates import render as render_mod

    user = tmp_path / "tpl" / "sms"
    user.mkdir(parents=True)
    (user / "email_body.txt.j2").write_text("Custom {{ from_label }}: {{ text_base64 }}")
    monkeypatch.setattr(render_mod, "user_template_dir", lambda: tmp_path / "tpl")
    sms = ingest_sms(sms_catalog, from_number="+1", to_number="+2", text="hé", received_at=T0)
    msg = build_sms_email(
        sms,
        names={},
        settings=SmsEmailSettings(enabled=True, to=["a@b.example"]),
        from_address="r@x.example",
    )
    assert msg.get_content().strip() == "Custom +1: " + base64.b64encode("hé".encode()).decode()


def test_message_id_is_deterministic(sms_catalog):
    sms = ingest_sms(sms_catalog, from_number="+1", to_number="+2", text="x", received_at=T0)
    settings = SmsEmailSettings(enabled=True, to=["a@b.example"])
    one = build_sms_email(sms, names={}, settings=settings, from_address="r@x.example")
    two = build_sms_email(sms, names={}, settings=settings, from_address="r@x.example")
    assert one["Message-ID"] == two["Message-ID"] == f"<sms-{sms.id}@x.example>"
    assert one.as_bytes() == two.as_bytes()
