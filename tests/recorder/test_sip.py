"""SIP parser and serialiser: real-world sloppiness accepted, garbage rejected with a reason,
and (fuzzed) nothing but SipParseError ever escapes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recorder.config import RecorderSettings
from recorder.core import RecorderCore, Send
from recorder.sip import (
    SipParseError,
    StreamFramer,
    build_response,
    parse_message,
    parse_name_addr,
)

INVITE = (
    b"INVITE sip:1000@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\r\n"
    b"v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK0\r\n"
    b'f: "Smith, \\"J\\"" <sip:+441234@example.com>;tag=abc\r\n'
    b"t: <sip:1000@127.0.0.1>\r\n"
    b"i: call-1@x\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Subject: folded\r\n  continues here\r\n"
    b"l: 4\r\n\r\nbody+extra"
)


def test_compact_forms_folding_escapes_and_content_length() -> None:
    m = parse_message(INVITE)
    assert m.method == "INVITE" and m.call_id == "call-1@x"
    assert m.get("subject") == "folded continues here"
    assert m.body == b"body"  # Content-Length wins over trailing bytes (UDP)
    assert len(m.get_all("via")) == 2 and m.branch == "z9hG4bK1"
    frm = parse_name_addr(m.get("from"))
    assert frm.display_name == 'Smith, "J"' and frm.user == "+441234" and frm.tag == "abc"


def test_bare_lf_and_odd_whitespace() -> None:
    raw = INVITE.replace(b"\r\n", b"\n").replace(b"CSeq: 1", b"CSeq  :   1")
    assert parse_message(raw).cseq == (1, "INVITE")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (INVITE.replace(b"i: call-1@x\r\n", b""), "Missing Call-ID header"),
        (INVITE.replace(b"l: 4", b"l: 400"), "Content-Length larger than body"),
        (INVITE.replace(b"l: 4", b"l: -1"), "Bad Content-Length header"),
        (INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), "CSeq method does not match"),
        (INVITE.replace(b"INVITE sip:", b"INVITE  "), "Bad request line"),
        (b"\x00\x01\x02", "No end of headers"),
        (b"HELLO\r\n\r\n", "Bad request line"),
    ],
)
def test_rejections_carry_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(SipParseError) as e:
        parse_message(raw)
    assert e.value.reason.startswith(reason)


def test_response_copies_vias_and_records_source() -> None:
    m = parse_message(INVITE)
    out = parse_message(build_response(m, 200, "OK", source=("127.0.0.9", 4000), to_tag="t1"))
    vias = out.get_all("via")
    assert "received=127.0.0.9" in vias[0] and "rport=4000" in vias[0]
    assert vias[1] == "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK0"
    assert parse_name_addr(out.get("to")).tag == "t1" and out.status == 200


def test_tcp_framing_by_content_length() -> None:
    f = StreamFramer()
    assert f.feed(b"\r\n\r\n" + INVITE[:50]) == []
    msgs = f.feed(INVITE[50:-6] + INVITE)
    assert len(msgs) == 2 and parse_message(msgs[0], stream=True).body == b"body"
    with pytest.raises(SipParseError):
        StreamFramer().feed(INVITE.replace(b"l: 4\r\n", b""))


_core = RecorderCore(RecorderSettings(), allocate_port=lambda: 40000, release_port=lambda p: None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)
    # the core answers or drops, never raises
    for a in _core.receive(data, ("127.0.0.1", 5000), now=1.0, wall=1.0):
        assert not isinstance(a, Send) or a.addr == ("127.0.0.1", 5000)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(0, len(INVITE) - 1), max_size=6),
    st.binary(min_size=1, max_size=4),
    st.booleans(),
)
def test_fuzz_mutated_invites(positions: list[int], junk: bytes, tcp: bool) -> None:
    raw = bytearray(INVITE)
    for p in positions:
        raw[p : p + 1] = junk
    with contextlib.suppress(SipParseError):
        parse_message(bytes(raw), stream=tcp)
    with contextlib.suppress(SipParseError):
        StreamFramer().feed(bytes(raw))
    _core.receive(bytes(raw), ("127.0.0.1", 5000), now=2.0, wall=2.0)
    for call in list(_core.calls):  # keep the shared core small
        _core.stop_call(call, "test", now=3.0, wall=3.0)
