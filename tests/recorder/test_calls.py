"""`recflow recorder` against real peers on 127.0.0.1: SIPp streaming speech (sample-exact),
SIPp replaying RFC 2833 DTMF pcaps (private / pause), our own UAC over UDP and TCP for SIPREC,
hold, CANCEL, BYE from either side, and our own RTP sender for loss/reorder/duplicates."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from recorder.media import ULAW
from tests.recorder.helpers import (
    Dialog,
    Recorder,
    Uac,
    free_port,
    sdp_media_ports,
    sdp_offer,
    send_stream,
    tone,
)

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) missing")

SIPP_UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="t">
  <send retrans="500"><![CDATA[
INVITE sip:+441632960555@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Check Caller" <sip:+447700900123@[local_ip]:[local_port]>;tag=[pid]t[call_number]
To: <sip:+441632960555@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:+447700900123@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=t 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=sendonly
]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:+441632960555@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Check Caller" <sip:+447700900123@[local_ip]:[local_port]>;tag=[pid]t[call_number]
To: <sip:+441632960555@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
@MEDIA@
  <send retrans="500"><![CDATA[
BYE sip:+441632960555@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Check Caller" <sip:+447700900123@[local_ip]:[local_port]>;tag=[pid]t[call_number]
To: <sip:+441632960555@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    metrics = free_port(socket.SOCK_STREAM)
    rec = Recorder(
        tmp_path_factory.mktemp("rec") / "data",
        "--rtp-timeout",
        "3",
        "--metrics-port",
        str(metrics),
    ).start()
    rec.metrics_url = f"http://127.0.0.1:{metrics}/metrics"  # type: ignore[attr-defined]
    yield rec
    assert rec.stop() == 0


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("speech")
    subprocess.run(
        [
            "espeak-ng",
            "-v",
            "en-us",
            "-s",
            "170",
            "-w",
            str(d / "s.wav"),
            "Hello, I would like to cancel my subscription, please.",
        ],
        check=True,
    )
    subprocess.run(
        ["sox", str(d / "s.wav"), "-r", "8000", "-c", "1", "-t", "ul", str(d / "s.ul")], check=True
    )
    return d / "s.ul"


def run_sipp(recorder: Recorder, tmp: Path, media: str, *extra: str, timeout: int = 40) -> None:
    scen = tmp / "uac.xml"
    scen.write_text(SIPP_UAC.replace("@MEDIA@", media))
    r = subprocess.run(
        [
            "sipp",
            "-sf",
            str(scen),
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-mp",
            str(free_port()),
            "-p",
            str(free_port()),
            "-m",
            "1",
            "-l",
            "1",
            "-nostdin",
            "-timeout",
            str(timeout),
            "-timeout_error",
            *extra,
            f"127.0.0.1:{recorder.sip}",
        ],
        capture_output=True,
        text=True,
        timeout=timeout + 20,
        cwd=tmp,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]


def find(x: np.ndarray, ref: np.ndarray) -> int:
    first = int(np.flatnonzero(ref)[0])
    probe = ref[first : first + 400]
    for i in np.flatnonzero(x == probe[0]):
        if np.array_equal(x[i : i + 400], probe):
            return int(i) - first
    return -1


def test_sipp_speech_call_is_sample_exact(recorder: Recorder, speech: Path, tmp_path: Path) -> None:
    n = len(recorder.rows())
    secs = len(speech.read_bytes()) / 8000
    run_sipp(
        recorder,
        tmp_path,
        f'<nop><action><exec rtp_stream="{speech},1,0"/></action></nop>'
        f'<pause milliseconds="{int(secs * 1000) + 600}"/>',
    )
    row = recorder.wait_rows(n + 1)[-1]
    pcm = recorder.audio(row)
    src = ULAW[np.frombuffer(speech.read_bytes(), np.uint8)]
    off = find(pcm[:, 0], src)
    assert off >= 0, "caller audio not found on channel 0"
    assert np.array_equal(pcm[off : off + len(src), 0], src)
    assert not pcm[:, 1].any()  # single m-line: the callee channel stays silent
    assert row["channels"] == 2 and row["sample_rate"] == 8000 and row["codec"] == "PCMU"
    assert row["from_number"] == "+447700900123" and row["from_name"] == "Check Caller"
    assert row["to_number"] == "+441632960555" and row["status"] == "captured"
    assert abs(row["duration_seconds"] - (secs + 0.6)) < 0.5
    st = row["metadata"]["streams"][0]
    assert st["packets_received"] == -(-len(src) // 160) and st["packets_lost"] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="play_pcap_audio needs raw sockets (root)")
# SIPp replays each pcap from its own thread; on a loaded 2-core CI box the replays drifted once
# in five full runs past the 2.5 s bound. The bound stays; a drifted replay is run again.
@pytest.mark.flaky(reruns=2)
def test_sipp_dtmf_pcaps_mark_private_and_pause(
    recorder: Recorder, speech: Path, tmp_path: Path
) -> None:
    pcaps = Path("/usr/share/sip-tester")
    for f in ("dtmf_2833_star.pcap", "dtmf_2833_1.pcap", "dtmf_2833_2.pcap", "dtmf_2833_3.pcap"):
        shutil.copy(pcaps / f, tmp_path / f)
    play = '<nop><action><exec play_pcap_audio="{}"/></action></nop><pause milliseconds="600"/>'
    media = (
        f'<nop><action><exec rtp_stream="{speech},1,0"/></action></nop>'
        '<pause milliseconds="500"/>'
        + play.format("dtmf_2833_star.pcap")
        + play.format("dtmf_2833_1.pcap")  # *1 private
        + play.format("dtmf_2833_star.pcap")
        + play.format("dtmf_2833_2.pcap")  # *2 pause
        + '<pause milliseconds="800"/>'
        + play.format("dtmf_2833_star.pcap")
        + play.format("dtmf_2833_3.pcap")  # *3 resume
        + '<pause milliseconds="500"/>'
    )
    n = len(recorder.rows())
    run_sipp(recorder, tmp_path, media)
    row = recorder.wait_rows(n + 1)[-1]
    assert row["metadata"]["dtmf"] == "*1*2*3"
    assert row["private"] == 1
    assert len(row["pauses"]) == 1 and row["pauses"][0]["reason"] == "dtmf"
    p = row["pauses"][0]
    assert 0.8 <= p["end"] - p["start"] <= 2.5
    pcm = recorder.audio(row)
    a, b = int(p["start"] * 8000), int(p["end"] * 8000)
    assert not pcm[a:b].any() and pcm[:a].any()  # the paused span is silent


def test_siprec_two_participants_over_tcp(recorder: Recorder) -> None:
    uac = Uac(("127.0.0.1", recorder.sip), "tcp")
    d = Dialog(uac, from_user="srs-client", to_user="srs")
    meta = (
        '<?xml version="1.0"?><recording xmlns="urn:ietf:params:xml:ns:recording:1">'
        '<participant participant_id="A"><nameID aor="sip:+15550001@pbx"><name>Ann</name>'
        '</nameID></participant><participant participant_id="B"><nameID aor="sip:2002@pbx">'
        "<name>Ben</name></nameID></participant>"
        '<stream stream_id="s1"><label>10</label></stream>'
        '<stream stream_id="s2"><label>20</label></stream>'
        '<participantstreamassoc participant_id="A"><send>s1</send></participantstreamassoc>'
        '<participantstreamassoc participant_id="B"><send>s2</send></participantstreamassoc>'
        "</recording>"
    )
    body = (
        "--x\r\nContent-Type: application/sdp\r\n\r\n"
        + sdp_offer(0, ports=[7000, 7002], labels=["10", "20"])
        + "--x\r\nContent-Type: application/rs-metadata+xml\r\n\r\n"
        + meta
        + "\r\n--x--\r\n"
    )
    n = len(recorder.rows())
    resp = d.invite(body, 'multipart/mixed;boundary="x"', extra="Require: siprec\r\n")
    p1, p2 = sdp_media_ports(resp)
    a, b = tone(1.5, 440, 7), tone(1.5, 880, 8)
    t1 = threading.Thread(target=send_stream, args=(("127.0.0.1", p1), a), kwargs={"ssrc": 1})
    t2 = threading.Thread(target=send_stream, args=(("127.0.0.1", p2), b), kwargs={"ssrc": 2})
    t1.start(), t2.start()
    t1.join(), t2.join()
    assert d.bye().startswith(b"SIP/2.0 200")
    uac.close()
    row = recorder.wait_rows(n + 1)[-1]
    assert (row["from_number"], row["from_name"], row["to_number"], row["to_name"]) == (
        "+15550001",
        "Ann",
        "2002",
        "Ben",
    )
    assert row["metadata"]["capture"] == "siprec" and row["metadata"]["transport"] == "tcp"
    pcm = recorder.audio(row)
    ra, rb = ULAW[np.frombuffer(a, np.uint8)], ULAW[np.frombuffer(b, np.uint8)]
    oa, ob = find(pcm[:, 0], ra), find(pcm[:, 1], rb)
    assert oa >= 0 and ob >= 0 and abs(oa - ob) < 400  # sent together: aligned within 50 ms
    assert np.array_equal(pcm[oa : oa + len(ra), 0], ra)
    assert np.array_equal(pcm[ob : ob + len(rb), 1], rb)


def test_loss_reorder_duplicates_keep_the_timeline(recorder: Recorder) -> None:
    uac = Uac(("127.0.0.1", recorder.sip))
    d = Dialog(uac)
    n = len(recorder.rows())
    port = sdp_media_ports(d.invite(sdp_offer(7100, ports=[7100, 7102])))
    a, b = tone(2.0, 500, 9), tone(2.0, 700, 10)
    k = len(a) // 160
    order = list(range(k))
    order.remove(20)  # lost
    order[40], order[41] = order[41], order[40]  # reordered
    order.insert(60, 60)  # duplicated
    t1 = threading.Thread(
        target=send_stream, args=(("127.0.0.1", port[0]), a), kwargs={"ssrc": 5, "order": order}
    )
    t2 = threading.Thread(target=send_stream, args=(("127.0.0.1", port[1]), b), kwargs={"ssrc": 6})
    t1.start(), t2.start()
    t1.join(), t2.join()
    d.bye()
    uac.close()
    row = recorder.wait_rows(n + 1)[-1]
    st = row["metadata"]["streams"][0]
    assert (st["packets_lost"], st["packets_duplicate"], st["packets_late"]) == (1, 1, 0)
    assert st["packets_reordered"] >= 1
    pcm = recorder.audio(row)
    ra = ULAW[np.frombuffer(a, np.uint8)].copy()
    ra[20 * 160 : 21 * 160] = 0
    rb = ULAW[np.frombuffer(b, np.uint8)]
    oa, ob = find(pcm[:, 0], ra), find(pcm[:, 1], rb)
    assert np.array_equal(pcm[oa : oa + len(ra), 0], ra)
    assert np.array_equal(pcm[ob : ob + len(rb), 1], rb)


def test_hold_cancel_and_bye_from_the_recorder(recorder: Recorder) -> None:
    uac = Uac(("127.0.0.1", recorder.sip))
    n = len(recorder.rows())
    # hold by re-INVITE: the span is a pause
    d = Dialog(uac)
    port = sdp_media_ports(d.invite(sdp_offer(7200, direction="sendrecv")))[0]
    send_stream(("127.0.0.1", port), tone(0.6, 300, 1), ssrc=9)
    assert b"a=inactive" in d.reinvite(sdp_offer(7200, direction="inactive"))
    time.sleep(0.8)
    d.reinvite(sdp_offer(7200, direction="sendrecv"))
    send_stream(("127.0.0.1", port), tone(0.6, 300, 2), ssrc=9, seq0=500, ts0=90000)
    d.bye()
    row = recorder.wait_rows(n + 1)[-1]
    assert [p["reason"] for p in row["pauses"]] == ["reinvite"]
    # the recorder hangs up after --rtp-timeout 3 s of silence: BYE comes to our source port
    d2 = Dialog(uac)
    d2.invite(sdp_offer(7300))
    bye = uac.recv(timeout=10)
    while not bye.startswith(b"BYE "):
        bye = uac.recv(timeout=10)
    assert d2.call_id.encode() in bye
    row = recorder.wait_rows(n + 2)[-1]
    assert row["metadata"]["end_reason"] == "rtp-timeout"
    uac.close()
    # CANCEL before the answer: no recording (nothing was heard)
    slow = Recorder(recorder.data.parent / "slow", "--answer-delay", "3").start()
    try:
        u = Uac(("127.0.0.1", slow.sip))
        d3 = Dialog(u)
        u.send(d3._req("INVITE", sdp_offer(7400)))
        assert u.response(status_min=180).startswith(b"SIP/2.0 180")
        u.send(d3._req("CANCEL", cseq=d3.cseq, branch=d3.branch))
        got = {int(u.response()[8:11]), int(u.response()[8:11])}
        assert got == {200, 487}
        u.close()
        time.sleep(1)
        assert slow.rows() == []
    finally:
        assert slow.stop(signal.SIGINT) == 0


def test_sigterm_captures_live_calls(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "data").start()
    uac = Uac(("127.0.0.1", rec.sip))
    d = Dialog(uac)
    port = sdp_media_ports(d.invite(sdp_offer(7500)))[0]
    send_stream(("127.0.0.1", port), tone(1.0, 400, 3))
    assert rec.stop(signal.SIGTERM) == 0
    bye = uac.recv(timeout=5)
    assert bye.startswith(b"BYE ")
    rows = rec.rows()
    assert len(rows) == 1 and rows[0]["metadata"]["end_reason"] == "shutdown"
    assert rows[0]["duration_seconds"] >= 1.0
    uac.close()
    assert not list((tmp_path / "data" / "recorder" / "live").iterdir())


def scrape(recorder: Recorder) -> dict[str, float]:
    """``recflow recorder --metrics-port``: every sample, keyed ``name{label=value,...}``."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(recorder.metrics_url, timeout=10).read().decode()  # type: ignore[attr-defined]
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def test_metrics_count_calls_rejects_sms_loss_and_jitter(recorder: Recorder) -> None:
    """The documented Prometheus names move with what happens: a call in progress, two refused
    INVITEs, an SMS, a recorded call that lost one packet of one stream."""
    before = scrape(recorder)
    uac = Uac(("127.0.0.1", recorder.sip))
    Dialog(uac).invite("v=0\r\nm=audio nonsense\r\n", expect=400)  # bad SDP
    Dialog(uac).invite("", expect=488)  # no offer
    sms = Dialog(uac, from_user="+447700900999", to_user="+441632960555")
    uac.send(sms._req("MESSAGE", "metrics check", "text/plain"))
    assert int(uac.response()[8:11]) < 300

    d = Dialog(uac)
    n = len(recorder.rows())
    port = sdp_media_ports(d.invite(sdp_offer(7200, ports=[7200, 7202])))
    a, b = tone(1.0, 500, 11), tone(1.0, 700, 12)
    order = list(range(len(a) // 160))
    order.remove(10)  # one packet lost on the first stream
    t1 = threading.Thread(
        target=send_stream, args=(("127.0.0.1", port[0]), a), kwargs={"ssrc": 7, "order": order}
    )
    t2 = threading.Thread(target=send_stream, args=(("127.0.0.1", port[1]), b), kwargs={"ssrc": 8})
    t1.start(), t2.start()
    t1.join(), t2.join()
    during = scrape(recorder)
    assert during["recflow_recorder_calls_active"] == before["recflow_recorder_calls_active"] + 1
    d.bye()
    uac.close()
    recorder.wait_rows(n + 1)

    def delta(name: str) -> float:
        return scrape(recorder)[name] - before.get(name, 0.0)

    deadline = time.time() + 30  # the capture thread counts once the catalog write returns
    while delta("recflow_recorder_calls_recorded_total") < 1 and time.time() < deadline:
        time.sleep(0.2)
    assert delta("recflow_recorder_calls_recorded_total") == 1
    assert delta("recflow_recorder_calls_active") == 0
    assert delta("recflow_recorder_invites_rejected_total{reason=bad_sdp}") == 1
    assert delta("recflow_recorder_invites_rejected_total{reason=not_acceptable}") == 1
    assert delta("recflow_recorder_invites_rejected_total{reason=busy}") == 0
    assert delta("recflow_recorder_sms_received_total") == 1
    assert delta("recflow_recorder_rtp_packets_lost_total") == 1
    assert delta("recflow_recorder_rtp_packets_received_total") == 2 * 50 - 1
    assert delta("recflow_recorder_rtp_jitter_ms_count") == 2
    assert delta("recflow_recorder_rtp_jitter_ms_bucket{le=+Inf}") == 2
    assert delta("recflow_recorder_rtp_jitter_ms_sum") >= 0
