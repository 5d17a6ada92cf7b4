"""The media timeline, driven in memory: loss, reordering, duplicates, SSRC changes, late
packets, foreign sources, DTMF and pauses -- both channels stay aligned sample for sample."""

from __future__ import annotations

import numpy as np

from recorder.media import ALAW, ULAW, CallMedia, ancillary_timestamp
from tests.recorder.helpers import rtp_packet, tone

PEER = ("127.0.0.1", 7000)
T0_WALL = 1_000_000.0


def feed(media: CallMedia, stream_i: int, pkt: bytes, at: float, src=PEER) -> None:  # type: ignore[no-untyped-def]
    media.streams[stream_i].inbox.append((pkt, ancillary_timestamp(T0_WALL + at), 0, src))


def run(media: CallMedia, until: float) -> np.ndarray:
    chunks, t = [], 0.0
    while t < until:
        t += 0.5
        pcm, _ = media.flush(t, T0_WALL + t)
        chunks.append(pcm)
    chunks.append(media.finish(until, T0_WALL + until))
    return np.concatenate(chunks)


def test_g711_tables_match_the_reference_decoder() -> None:
    # ITU-T G.711 reference points
    assert ULAW[0xFF] == 0 and ULAW[0x80] == 32124 and ULAW[0x00] == -32124
    assert ALAW[0xD5] == 8 and ALAW[0xAA] == 32256 and ALAW[0x2A] == -32256


def test_two_streams_aligned_despite_loss_reorder_duplicates() -> None:
    a, b = tone(2.0, 440, 1), tone(2.0, 660, 2)
    m = CallMedia(0.0, holdback=0.3)
    m.add_stream(0, {0: "PCMU"}, {101}, {"127.0.0.1"})
    m.add_stream(1, {0: "PCMU"}, {101}, {"127.0.0.1"})
    n = len(a) // 160
    events = []
    for i in range(n):
        at = 0.1 + i * 0.02
        events.append((at, 0, rtp_packet(10 + i, 999 + 160 * i, 1, a[i * 160 : (i + 1) * 160])))
        if i == 30:
            continue  # lost on channel 1
        j = i + 1 if i % 10 == 4 else i - 1 if i % 10 == 5 else i  # swap pairs: reordering
        events.append(
            (at + 0.003, 1, rtp_packet(60000 + j, 7 + 160 * j, 2, b[j * 160 : (j + 1) * 160]))
        )
        if i == 50:
            events.append((at + 0.004, 1, events[-1][2]))  # duplicate
    events.append((0.5, 0, rtp_packet(1, 1, 3, b"\xff" * 160)))
    events[-1] = (0.5, 0, events[-1][2])
    out_chunks, t, k = [], 0.0, 0
    events.sort(key=lambda e: e[0])
    while t < 2.4:
        t += 0.5
        while k < len(events) and events[k][0] <= t:
            at, s, pkt = events[k]
            src = ("10.9.9.9", 1) if pkt[8:12] == b"\x00\x00\x00\x03" else PEER
            feed(m, s, pkt, at, src)
            k += 1
        out_chunks.append(m.flush(t, T0_WALL + t)[0])
    out_chunks.append(m.finish(2.4, T0_WALL + 2.4))
    out = np.concatenate(out_chunks)
    ref_a = ULAW[np.frombuffer(a, np.uint8)]
    ref_b = ULAW[np.frombuffer(b, np.uint8)].copy()
    ref_b[30 * 160 : 31 * 160] = 0  # the lost packet is silence
    start_a = int(0.1 * 8000)
    assert np.array_equal(out[start_a : start_a + len(ref_a), 0], ref_a)
    start_b = int(0.103 * 8000)
    assert np.array_equal(out[start_b : start_b + len(ref_b), 1], ref_b)
    s0, s1 = m.streams[0].summary(), m.streams[1].summary()
    assert s0["packets_ignored_source"] == 1 and s0["packets_received"] == n
    assert s1["packets_lost"] == 1 and s1["packets_duplicate"] == 1
    assert s1["packets_reordered"] > 0 and s1["packets_late"] == 0


def test_ssrc_change_late_packets_and_timestamp_jump() -> None:
    a = tone(1.0, 500, 3)
    m = CallMedia(0.0, holdback=0.2)
    m.add_stream(0, {0: "PCMU", 8: "PCMA"}, {101}, {"127.0.0.1"})
    for i in range(25):  # first source, 0.0-0.5 s
        feed(m, 0, rtp_packet(i, 160 * i, 11, a[i * 160 : (i + 1) * 160]), 0.02 * i)
    m.flush(0.6, T0_WALL + 0.6)
    feed(m, 0, rtp_packet(1, 160, 11, a[:160]), 0.61)  # long gone: late
    for i in range(25):  # new SSRC after a transfer, with a random timestamp base
        feed(
            m,
            0,
            rtp_packet(900 + i, 123456 + 160 * i, 22, a[i * 160 : (i + 1) * 160]),
            0.7 + 0.02 * i,
        )
    feed(m, 0, rtp_packet(925, 123456 + 160 * 25 + 8000 * 3600, 22, a[:160]), 1.3)  # jump
    m.flush(1.4, T0_WALL + 1.4)
    out = m.finish(1.5, T0_WALL + 1.5)
    assert out.shape[1] == 2
    st = m.streams[0].summary()
    assert st["ssrcs"] == 2 and st["packets_late"] == 1 and st["discontinuities"] == 1
    assert m.committed < 3 * 8000  # the jump did not create an hour of silence


def test_dtmf_and_pause_silence_the_span() -> None:
    a = tone(2.0, 300, 4)
    m = CallMedia(0.0, holdback=0.2)
    m.add_stream(0, {0: "PCMU"}, {101}, {"127.0.0.1"})
    digits = []
    for i in range(100):
        at = 0.02 * i
        feed(m, 0, rtp_packet(i, 160 * i, 5, a[i * 160 : (i + 1) * 160]), at)
        if i == 40:  # RFC 4733 '*' (10) sent 3 times incl. end bit: counted once
            for rep in range(3):
                ev = bytes([10, 0x80 if rep else 0x0A, 0, 160])
                m.streams[0].inbox.append(
                    (
                        rtp_packet(5000 + rep, 160 * i, 5, ev, pt=101),
                        ancillary_timestamp(T0_WALL + at),
                        0,
                        PEER,
                    )
                )
        if i % 25 == 24:
            _pcm, new = m.flush(at, T0_WALL + at)
            digits += new
            if new:
                m.pause(new[0].position, "dtmf")
        if i == 80:
            m.resume(160 * i)
    m.finish(2.0, T0_WALL + 2.0)
    assert [d.digit for d in digits] == ["*"]
    span = m.pauses[0]
    assert span.start == 160 * 40 and span.end == 160 * 80 and span.reason == "dtmf"
