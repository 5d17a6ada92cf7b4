"""recvmmsg batches (recorder.rtpio) and the vectorised media path give exactly what the
one-datagram-at-a-time path gives: same PCM, same counters."""

from __future__ import annotations

import socket
import struct

import numpy as np
import pytest

from recorder.media import SO_TIMESTAMPNS, CallMedia, RtpBatch, ancillary_timestamp
from recorder.rtpio import BatchReader

pytestmark = pytest.mark.skipif(not BatchReader.available, reason="no recvmmsg here")


def _pkt(seq: int, ts: int, payload: bytes, pt: int = 0, ssrc: int = 7) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def _pair() -> tuple[socket.socket, socket.socket]:
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    r.bind(("127.0.0.1", 0))
    r.setblocking(False)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(r.getsockname())
    return r, s


def _media() -> CallMedia:
    import time

    m = CallMedia(time.monotonic())
    m.add_stream(0, {0: "PCMU", 8: "PCMA"}, {101}, {"127.0.0.1"})
    m.add_stream(1, {0: "PCMU"}, {101}, {"127.0.0.1"})
    return m


def test_batches_equal_packets() -> None:
    import time

    r, s = _pair()
    rx = BatchReader()
    rng = np.random.default_rng(1)
    fast, slow = _media(), _media()
    slow.t0 = fast.t0
    seq, ts = 1000, 0xFFFFF000  # timestamps wrap during the test
    out_fast, out_slow = [], []
    digits_fast, digits_slow = [], []
    for rnd in range(12):
        for _ in range(30):
            payload = rng.integers(0, 256, 160, dtype=np.uint8).tobytes()
            if rnd == 5 and seq % 7 == 0:
                pass  # losses: gaps inside a batch
            elif rnd == 8 and seq % 10 == 0:
                s.send(_pkt(seq, ts, b"\x01\x0a\x00\xa0", pt=101))  # DTMF: general path
            else:
                s.send(_pkt(seq, ts, payload))
            seq += 1
            ts += 160
        if rnd == 3:
            s.send(_pkt(seq - 200, ts - 200 * 160, b"\x00" * 160))  # far too late
        time.sleep(0.02)
        batches: list[RtpBatch] = []
        assert rx.drain(r.fileno(), batches.append) > 0
        for b in batches:
            fast.streams[0].inbox.append(b)
            for data, arrival, source in b.packets():
                assert source == s.getsockname()
                slow.streams[0].inbox.append((data, ancillary_timestamp(arrival), 0, source))
        # the clock advances as the audio does (0.6 s a round), so no source re-anchors
        now = fast.t0 + 0.6 * (rnd + 1)
        wall = time.time()
        pf, df = fast.flush(now, wall)
        ps, ds = slow.flush(now, wall)
        out_fast.append(pf)
        out_slow.append(ps)
        digits_fast += df
        digits_slow += ds
    out_fast.append(fast.finish(now + 0.6, wall + 0.6))
    out_slow.append(slow.finish(now + 0.6, wall + 0.6))
    a, b = np.concatenate(out_fast), np.concatenate(out_slow)
    diff = np.flatnonzero((a != b).any(axis=1))
    assert len(a) > 8000 and not len(diff), (diff[:5], len(diff), a[diff[:3]], b[diff[:3]])
    assert np.count_nonzero(a[:, 0]) > 0.8 * 30 * 12 * 160
    assert fast.streams[0].stats.discontinuities == 0
    assert digits_fast == digits_slow and digits_fast
    sf, ss = fast.streams[0].summary(), slow.streams[0].summary()
    assert sf["packets_lost"] == ss["packets_lost"] > 0
    assert sf["packets_late"] == ss["packets_late"] >= 1
    assert sf == ss | {"jitter_ms": sf["jitter_ms"], "max_jitter_ms": sf["max_jitter_ms"]}
    assert abs(sf["jitter_ms"] - ss["jitter_ms"]) < 1e-6
    r.close()
    s.close()


def test_foreign_source_and_discard() -> None:
    r, s = _pair()
    rx = BatchReader()
    for i in range(5):
        s.send(_pkt(i, i * 160, b"\xff" * 160))
    got: list[RtpBatch] = []
    assert rx.drain(r.fileno(), got.append) == 5
    assert len(got) == 1 and got[0].host == s.getsockname() and got[0].data.shape == (5, 172)
    assert not np.isnan(got[0].arrival).any()
    m = CallMedia(0.0)
    st = m.add_stream(0, {0: "PCMU"}, set(), {"192.0.2.1"})
    st.inbox.append(got[0])
    m.process(1.0, 1.0)
    assert st.stats.ignored_source == 5 and not st.pending
    s.send(_pkt(9, 0, b"\xff" * 160))
    assert rx.drain(r.fileno(), None) == 1  # RTCP sockets: read and dropped
    assert rx.drain(r.fileno(), None) == 0
    r.close()
    s.close()
