"""The SIP core driven in memory (no sockets, time passed in): dialogs, offer/answer, SIPREC,
CANCEL, hold, limits, trust, SMS and timers."""

from __future__ import annotations

from recorder.config import RecorderSettings
from recorder.core import CallEnded, CallStarted, RecorderCore, Send, SmsReceived
from recorder.sip import parse_message
from tests.recorder.helpers import sdp_offer

SRC = ("127.0.0.1", 5999)


def make_core(**kw) -> RecorderCore:  # type: ignore[no-untyped-def]
    ports = iter(range(40000, 41000, 2))
    return RecorderCore(
        RecorderSettings(**kw),
        allocate_port=lambda: next(ports),
        release_port=lambda p: None,
        sip_port=5060,
    )


def req(
    method: str,
    call_id: str = "c1",
    *,
    cseq: int = 1,
    body: str = "",
    to_tag: str = "",
    ctype: str = "application/sdp",
    branch: str = "z9hG4bKa",
    frm: str = "",
    extra: str = "",
) -> bytes:
    to = "<sip:1000@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    frm = frm or '"Alice" <sip:+447700900123@127.0.0.1>;tag=ft'
    head = (
        f"{method} sip:1000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;"
        f"branch={branch};rport\r\nFrom: {frm}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\nContact: <sip:a@192.0.2.55:5999>\r\n{extra}"
    )
    if body:
        head += f"Content-Type: {ctype}\r\n"
    return f"{head}Content-Length: {len(body.encode())}\r\n\r\n{body}".encode()


def sends(actions) -> list:  # type: ignore[no-untyped-def]
    return [parse_message(a.data) for a in actions if isinstance(a, Send)]


def test_invite_answer_bye_and_retransmissions() -> None:
    core = make_core()
    acts = core.receive(req("INVITE", body=sdp_offer(6000)), SRC, now=0, wall=100)
    assert any(isinstance(a, CallStarted) for a in acts)
    ok = sends(acts)[-1]
    assert ok.status == 200 and b"a=recvonly" in ok.body and b"m=audio 40000 RTP/AVP 0 8" in ok.body
    assert all(a.addr == SRC for a in acts if isinstance(a, Send))
    tag = ok.get("to").split("tag=")[1]
    # the INVITE again (lost 200): the same answer; 2xx is retransmitted until the ACK
    again = sends(core.receive(req("INVITE", body=sdp_offer(6000)), SRC, now=0.1, wall=100))
    assert again[0].body == ok.body
    assert sends(core.tick(0.6, 100.6))[0].status == 200
    core.receive(req("ACK", to_tag=tag), SRC, now=0.7, wall=100.7)
    assert sends(core.tick(2.0, 102)) == []
    acts = core.receive(req("BYE", cseq=2, to_tag=tag, branch="z9hG4bKb"), SRC, now=5, wall=105)
    assert sends(acts)[0].status == 200
    ended = [a for a in acts if isinstance(a, CallEnded)]
    assert ended and ended[0].reason == "bye"
    d = ended[0].call.describe()
    assert d["from_number"] == "+447700900123" and d["from_name"] == "Alice"
    assert d["to_number"] == "1000" and d["direction"] == "inbound"
    # a retransmitted BYE is still answered 200, an unknown one 481
    assert (
        sends(
            core.receive(req("BYE", cseq=2, to_tag=tag, branch="z9hG4bKb"), SRC, now=5.1, wall=105)
        )[0].status
        == 200
    )
    assert (
        sends(core.receive(req("BYE", "nope", to_tag="x"), SRC, now=6, wall=106))[0].status == 481
    )


def test_cancel_before_answer() -> None:
    core = make_core(answer_delay_seconds=2)
    acts = sends(core.receive(req("INVITE", body=sdp_offer(6000)), SRC, now=0, wall=0))
    assert [m.status for m in acts] == [100, 180]
    acts = core.receive(req("CANCEL"), SRC, now=0.5, wall=0.5)
    statuses = sorted(m.status for m in sends(acts))
    assert statuses == [200, 487]
    assert [a.reason for a in acts if isinstance(a, CallEnded)] == ["cancel"]
    assert sends(core.tick(3, 3)) == []  # never answered afterwards


def test_siprec_participants_mapped_to_channels() -> None:
    meta = """<?xml version="1.0"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
 <participant participant_id="P2">
  <nameID aor="sip:2001@pbx"><name>Bob Agent</name></nameID></participant>
 <participant participant_id="P1">
  <nameID aor="sip:+15551234@pbx"><name>Carol Customer</name></nameID></participant>
 <stream stream_id="S1" session_id="x"><label>1</label></stream>
 <stream stream_id="S2" session_id="x"><label>2</label></stream>
 <participantstreamassoc participant_id="P1"><send>S1</send></participantstreamassoc>
 <participantstreamassoc participant_id="P2"><send>S2</send></participantstreamassoc>
</recording>"""
    sdp = sdp_offer(0, ports=[6000, 6002], labels=["1", "2"])
    body = (
        "--b1\r\nContent-Type: application/sdp\r\n\r\n"
        + sdp
        + "\r\n--b1\r\nContent-Type: application/rs-metadata+xml\r\n"
        "Content-Disposition: recording-session\r\n\r\n" + meta + "\r\n--b1--\r\n"
    )
    core = make_core()
    acts = core.receive(
        req(
            "INVITE", body=body, ctype='multipart/mixed;boundary="b1"', extra="Require: siprec\r\n"
        ),
        SRC,
        now=0,
        wall=0,
    )
    ok = sends(acts)[-1]
    assert ok.status == 200 and ok.body.count(b"m=audio 4000") == 2
    call = next(a.call for a in acts if isinstance(a, CallStarted))
    d = call.describe()
    assert (d["from_number"], d["from_name"]) == ("+15551234", "Carol Customer")
    assert (d["to_number"], d["to_name"]) == ("2001", "Bob Agent")
    assert [p["role"] for p in d["participants"]] == ["caller", "callee"]
    assert d["metadata"]["capture"] == "siprec"


def test_hold_by_reinvite_pauses_and_resumes() -> None:
    core = make_core()
    acts = core.receive(
        req("INVITE", body=sdp_offer(6000, direction="sendrecv")), SRC, now=0, wall=0
    )
    call = next(a.call for a in acts if isinstance(a, CallStarted))
    tag = call.local_tag
    core.receive(req("ACK", to_tag=tag), SRC, now=0.1, wall=0.1)
    r = sends(
        core.receive(
            req(
                "INVITE",
                cseq=2,
                to_tag=tag,
                branch="z9hG4bKh",
                body=sdp_offer(6000, direction="sendonly"),
            ),
            SRC,
            now=3,
            wall=3,
        )
    )
    assert r[0].status == 200 and b"a=inactive" in r[0].body
    assert call.media.paused
    core.receive(
        req(
            "INVITE",
            cseq=3,
            to_tag=tag,
            branch="z9hG4bKr",
            body=sdp_offer(6000, direction="sendrecv"),
        ),
        SRC,
        now=5,
        wall=5,
    )
    assert not call.media.paused
    span = call.media.pauses[0]
    assert (span.start, span.end, span.reason) == (24000, 40000, "reinvite")


def test_limits_trust_options_message_and_unknown_methods() -> None:
    core = make_core(max_calls=1, trusted_sources=["127.0.0.0/8"])
    assert (
        sends(core.receive(req("INVITE", body=sdp_offer(6000)), SRC, now=0, wall=0))[-1].status
        == 200
    )
    busy = sends(core.receive(req("INVITE", "c2", body=sdp_offer(6002)), SRC, now=0, wall=0))
    assert busy[0].status == 503 and busy[0].get("retry-after")
    stranger = ("192.0.2.1", 5060)
    acts = core.receive(req("OPTIONS", "c3"), stranger, now=0, wall=0)
    assert sends(acts)[0].status == 403 and acts[0].addr == stranger
    assert sends(core.receive(req("OPTIONS", "c4"), SRC, now=0, wall=0))[0].status == 200
    assert sends(core.receive(req("SUBSCRIBE", "c5"), SRC, now=0, wall=0))[0].status == 405
    acts = core.receive(
        req("MESSAGE", "c6", body="héllo ✓", ctype="text/plain;charset=UTF-8"),
        SRC,
        now=0,
        wall=1_700_000_000,
    )
    sms = next(a for a in acts if isinstance(a, SmsReceived))
    assert (sms.from_number, sms.to_number, sms.text, sms.from_name) == (
        "+447700900123",
        "1000",
        "héllo ✓",
        "Alice",
    )
    assert sends(acts)[0].status == 200
    # the retransmitted MESSAGE is answered again but stored once
    again = core.receive(
        req("MESSAGE", "c6", body="héllo ✓", ctype="text/plain"), SRC, now=1, wall=0
    )
    assert sends(again)[0].status == 200 and not any(isinstance(a, SmsReceived) for a in again)
    html = core.receive(req("MESSAGE", "c7", body="<b>", ctype="text/html"), SRC, now=1, wall=0)
    assert sends(html)[0].status == 415


def test_rtp_timeout_sends_bye_to_the_invite_source_only() -> None:
    core = make_core(rtp_timeout_seconds=5)
    acts = core.receive(req("INVITE", body=sdp_offer(6000)), SRC, now=0, wall=0)
    call = next(a.call for a in acts if isinstance(a, CallStarted))
    core.receive(req("ACK", to_tag=call.local_tag), SRC, now=0.1, wall=0.1)
    acts = core.tick(6, 6)
    bye = [a for a in acts if isinstance(a, Send)]
    assert bye and bye[0].addr == SRC  # not the Contact host 192.0.2.55
    msg = parse_message(bye[0].data)
    assert msg.method == "BYE" and msg.uri == "sip:a@192.0.2.55:5999"
    assert [a.reason for a in acts if isinstance(a, CallEnded)] == ["rtp-timeout"]
