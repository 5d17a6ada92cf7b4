"""Media latching: a stream takes packets from one address *and port* only; packets from
another port of the call's own host (the probe's injection: same SSRC, random sequence numbers)
are dropped and counted, and not one sample of the live recording changes."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from recorder.media import LATCH_WINDOW, ULAW, CallMedia
from tests.recorder.helpers import (
    Dialog,
    Recorder,
    Uac,
    rtp_packet,
    sdp_media_ports,
    sdp_offer,
    tone,
)
from tests.recorder.test_calls import find
from tests.recorder.test_media import T0_WALL, feed

SDP_PEER = ("127.0.0.1", 7000)
OTHER_PORT = ("127.0.0.1", 7002)


def media(expected=SDP_PEER) -> CallMedia:  # type: ignore[no-untyped-def]
    m = CallMedia(0.0, holdback=0.2)
    m.add_stream(0, {0: "PCMU"}, {101}, {"127.0.0.1"}, expected=expected)
    return m


def play(
    m: CallMedia, events: list[tuple[float, bytes, tuple[str, int]]], until: float
) -> np.ndarray:
    events.sort(key=lambda e: e[0])
    out, t, k = [], 0.0, 0
    while t < until:
        t += 0.5
        while k < len(events) and events[k][0] <= t:
            at, pkt, src = events[k]
            feed(m, 0, pkt, at, src)
            k += 1
        out.append(m.flush(t, T0_WALL + t)[0])
    out.append(m.finish(until, T0_WALL + until))
    return np.concatenate(out)[:, 0]


def legit(audio: bytes, src=SDP_PEER, start: float = 0.1):  # type: ignore[no-untyped-def]
    return [
        (
            start + 0.02 * i,
            rtp_packet(100 + i, 5000 + 160 * i, 0x1234, audio[i * 160 : (i + 1) * 160]),
            src,
        )
        for i in range(len(audio) // 160)
    ]


def injected(n: int, src=OTHER_PORT, start: float = 0.11, seed: int = 1):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return [
        (
            start + 0.02 * i,
            rtp_packet(
                rng.randrange(65536), 5000 + 160 * i, 0x1234, bytes([rng.randrange(256)]) * 160
            ),
            src,
        )
        for i in range(n)
    ]


def test_injection_from_another_port_changes_no_sample() -> None:
    a = tone(2.0, 440, 1)
    m = media()
    out = play(m, legit(a) + injected(100), 2.6)
    ref = ULAW[np.frombuffer(a, np.uint8)]
    start = int(0.1 * 8000)
    assert np.array_equal(out[start : start + len(ref)], ref)
    s = m.streams[0].summary()
    assert s["packets_rejected_source"] == 100 and s["packets_received"] == len(a) // 160
    assert s["latched"] == "127.0.0.1:7000" and s["ssrcs"] == 1


def test_first_packet_latches_when_the_sdp_port_is_not_the_source() -> None:
    """Behind NAT the source port differs from the SDP's: the first valid packet latches."""
    a = tone(1.0, 500, 2)
    m = media()
    nat = ("127.0.0.1", 40123)
    out = play(m, legit(a, src=nat) + injected(40, src=("127.0.0.1", 40125)), 1.6)
    ref = ULAW[np.frombuffer(a, np.uint8)]
    assert np.array_equal(out[800 : 800 + len(ref)], ref)
    s = m.streams[0].summary()
    assert s["latched"] == "127.0.0.1:40123" and s["packets_rejected_source"] == 40


def test_the_sdp_address_takes_over_a_first_latch_within_the_window() -> None:
    """An injector racing the call's first packet from another port loses to the SDP's port."""
    a = tone(1.5, 600, 3)
    m = media()
    # the injector starts 60 ms before the real stream (4 packets, 0.04-0.10 s), then keeps going
    events = injected(80, start=0.04) + legit(a)
    out = play(m, events, 2.0)
    ref = ULAW[np.frombuffer(a, np.uint8)]
    start = int(0.1 * 8000)
    # from the real stream's first packet on, every sample is the real one
    assert np.array_equal(out[start : start + len(ref)], ref)
    s = m.streams[0].summary()
    assert s["latched"] == "127.0.0.1:7000" and s["relatched"] == 1
    assert s["packets_rejected_source"] == 80 - 4


def test_no_takeover_after_the_window_or_once_latched_to_the_sdp() -> None:
    a = tone(1.0, 700, 4)
    m = media()
    late = LATCH_WINDOW + 0.5
    events = legit(a, src=("127.0.0.1", 40200)) + legit(a, src=SDP_PEER, start=late)
    play(m, events, late + 1.5)
    s = m.streams[0].summary()
    assert s["latched"] == "127.0.0.1:40200" and s["relatched"] == 0
    assert s["packets_rejected_source"] == len(a) // 160


def test_strangers_and_garbage_never_latch() -> None:
    m = media()
    events = [
        (0.05, b"\x00" * 40, SDP_PEER),
        (0.06, rtp_packet(1, 1, 9, b"\xff" * 160), ("10.9.9.9", 7000)),
    ]
    play(m, events + legit(tone(0.5, 300, 5), src=OTHER_PORT), 1.0)
    s = m.streams[0].summary()
    assert s["latched"] == "127.0.0.1:7002"
    assert s["packets_invalid"] == 1 and s["packets_ignored_source"] == 1


def test_reinvite_moving_the_address_releases_the_latch() -> None:
    m = media()
    st = m.streams[0]
    play(m, legit(tone(0.5, 300, 6)), 0.8)
    assert st.latched == SDP_PEER
    st.update({0: "PCMU"}, {101}, {"127.0.0.1"}, ("127.0.0.1", 7010))
    assert st.latched is None and st.expected == ("127.0.0.1", 7010)
    st.update({0: "PCMU"}, {101}, {"127.0.0.1"}, ("127.0.0.1", 7010))  # same SDP: no change
    assert st.expected == ("127.0.0.1", 7010)


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    rec = Recorder(tmp_path_factory.mktemp("latch") / "data", "--rtp-timeout", "3").start()
    yield rec
    assert rec.stop() == 0


def test_live_call_injection_over_loopback(recorder: Recorder, tmp_path: Path) -> None:
    """The probe's attack on the real recorder: RTP from the call's own IP, another port, the
    call's SSRC, random sequence numbers -- 0 samples of the recording altered."""
    real = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    real.bind(("127.0.0.1", 0))
    evil = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    evil.bind(("127.0.0.1", 0))
    uac = Uac(("127.0.0.1", recorder.sip))
    d = Dialog(uac)
    n = len(recorder.rows())
    port = sdp_media_ports(d.invite(sdp_offer(real.getsockname()[1])))[0]
    dest = ("127.0.0.1", port)
    a = tone(2.0, 450, 7)
    k = len(a) // 160
    rng = random.Random(7)
    sent_evil = 0
    start = time.monotonic()
    for i in range(k):
        real.sendto(rtp_packet(100 + i, 5000 + 160 * i, 0x1234, a[i * 160 : (i + 1) * 160]), dest)
        if i >= 2:  # the attacker sees the SSRC and the timestamps and joins in
            for _ in range(2):
                evil.sendto(
                    rtp_packet(
                        rng.randrange(65536),
                        5000 + 160 * i,
                        0x1234,
                        bytes([rng.randrange(256)]) * 160,
                    ),
                    dest,
                )
                sent_evil += 1
        delay = start + (i + 1) * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    d.bye()
    uac.close()
    real.close()
    evil.close()
    row = recorder.wait_rows(n + 1)[-1]
    st = row["metadata"]["streams"][0]
    assert st["packets_rejected_source"] == sent_evil
    assert st["packets_received"] == k and st["ssrcs"] == 1
    pcm = recorder.audio(row)[:, 0]
    ref = ULAW[np.frombuffer(a, np.uint8)]
    at = find(pcm, ref)
    assert at >= 0 and np.array_equal(pcm[at : at + len(ref)], ref)
