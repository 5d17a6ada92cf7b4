"""RTP media of one call on one timeline: parsing, G.711 decoding, reordering, gap filling.

Sans-I/O and built for a lean hot path. The transport shell appends each received datagram,
exactly as ``socket.recvmsg`` returned it, to a stream's ``inbox`` list and does nothing else;
about once a second :meth:`CallMedia.flush` parses the batch, places every payload on the call's
timeline by RTP timestamp and returns the stereo PCM that is now final. Samples are committed
``holdback`` seconds behind the clock, which is the reorder window: packets that arrive later
than that are counted as late and dropped, everything earlier lands where its timestamp says.
Gaps, hold and pauses are silence, so both channels stay aligned on one timeline.

Latching (symmetric RTP): each stream accepts packets from exactly one source address *and
port*. The first valid RTP packet from a host the call allows (the SIP peer, the SDP's ``c=``)
latches the stream to its address:port; from then on packets from any other address or port
(another port of the same host included) are dropped and counted
(``packets_rejected_source``), so an SSRC change is accepted only from the latched source.
The SDP's own address:port takes precedence: if it starts sending within
:data:`LATCH_WINDOW` seconds of a first packet that came from elsewhere, the stream
re-latches to it (``relatched``) and stays there; what the first source sent and is not yet
committed (``holdback``) is discarded, what is committed stays. A re-INVITE that moves the SDP
address releases the latch.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from itertools import pairwise
from operator import itemgetter
from typing import Any

import numpy as np

RATE = 8000
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_HDR = struct.Struct("!HII")
_TS = struct.Struct("qq")
_EVENTS = "0123456789*#ABCD"
MAX_AHEAD = 5 * RATE  # a timestamp further ahead of the clock than this is a discontinuity
MAX_BEHIND = 60 * RATE
LATCH_WINDOW = 2.0  # seconds in which the SDP's address:port may take over a first latch
Source = tuple[str, int]  # (host, port) a datagram came from


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.uint8)
    exp = (u >> 4) & 7
    man = (u & 15).astype(np.int32)
    mag = (((man << 3) + 0x84) << exp) - 0x84
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def _alaw_table() -> np.ndarray:
    out = np.empty(256, dtype=np.int16)
    for i in range(256):
        a = i ^ 0x55
        t = (a & 0x0F) << 4
        seg = (a & 0x70) >> 4
        if seg == 0:
            t += 8
        elif seg == 1:
            t += 0x108
        else:
            t = (t + 0x108) << (seg - 1)
        out[i] = t if a & 0x80 else -t
    return out


ULAW = _ulaw_table()
ALAW = _alaw_table()
TABLES = {"PCMU": ULAW, "PCMA": ALAW}


_RTP_DTYPE = np.dtype([("b0", "u1"), ("b1", "u1"), ("seq", ">u2"), ("ts", ">u4"), ("ssrc", ">u4")])


@dataclass(slots=True)
class RtpBatch:
    """Datagrams of one socket read in one go (see :mod:`recorder.rtpio`).

    ``data`` holds datagram i in row i (``lengths[i]`` bytes, the rest is padding); ``arrival``
    is the kernel's wall-clock arrival time (NaN where unknown); ``host`` is the source
    (host, port) of every datagram, or None when they differ and ``hosts`` lists them one by one.
    """

    data: np.ndarray
    lengths: np.ndarray
    arrival: np.ndarray
    host: Source | None
    hosts: list[Source] | None = None

    def packets(self) -> list[tuple[bytes, float | None, Source]]:
        """One ``(data, arrival or None, host)`` per datagram, for the general path."""
        out = []
        hosts = self.hosts
        for i, (n, t) in enumerate(zip(self.lengths.tolist(), self.arrival.tolist(), strict=True)):
            host = self.host if hosts is None else hosts[i]
            out.append((self.data[i, :n].tobytes(), None if t != t else t, host or ("", 0)))
        return out


def ancillary_timestamp(wall: float) -> list[tuple[int, int, bytes]]:
    """The ancillary data ``recvmsg`` would return for a packet received at ``wall``."""
    sec = int(wall)
    return [(socket.SOL_SOCKET, SO_TIMESTAMPNS, _TS.pack(sec, int((wall - sec) * 1e9)))]


@dataclass(slots=True)
class _Source:
    """Per-SSRC state: timestamp anchor, sequence tracking (RFC 3550 A.1), jitter (A.8)."""

    base_ts: int
    base_pos: int
    base_seq: int
    max_seq: int  # extended
    received: int = 0
    duplicates: int = 0
    reordered: int = 0
    transit: float | None = None
    jitter: float = 0.0  # in timestamp units


@dataclass(slots=True)
class StreamStats:
    packets: int = 0
    payload_bytes: int = 0
    lost: int = 0
    late: int = 0
    duplicate: int = 0
    reordered: int = 0
    ignored_source: int = 0
    rejected_source: int = 0
    relatched: int = 0
    srtp_failed: int = 0
    invalid: int = 0
    rtcp: int = 0
    unknown_payload_type: int = 0
    comfort_noise: int = 0
    telephone_events: int = 0
    ssrc_changes: int = 0
    discontinuities: int = 0
    jitter_ms: float = 0.0
    max_jitter_ms: float = 0.0


@dataclass(slots=True)
class MediaStream:
    """One received RTP stream (one SDP m-line), written to one channel."""

    channel: int
    codecs: dict[int, str]
    dtmf_pts: set[int]
    allowed_hosts: set[str]
    label: str = ""
    expected: Source | None = None  # the SDP's address:port
    latched: Source | None = None
    latched_at: float = 0.0
    latched_expected: bool = False
    srtp: Any = None  # a pylibsrtp Session for an SRTP (SDES) stream; None = plain RTP
    inbox: list[Any] = field(default_factory=list)
    pending: list[tuple[int, bytes, np.ndarray]] = field(default_factory=list)
    sources: dict[int, _Source] = field(default_factory=dict)
    stats: StreamStats = field(default_factory=StreamStats)
    codecs_seen: set[str] = field(default_factory=set)
    _events_seen: dict[tuple[int, int, int], float] = field(default_factory=dict)
    _tables: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tables = {pt: TABLES[n] for pt, n in self.codecs.items() if n in TABLES}

    def update(
        self,
        codecs: dict[int, str],
        dtmf_pts: set[int],
        allowed_hosts: set[str],
        expected: Source | None = None,
    ) -> None:
        """A re-INVITE renegotiated this stream; a new SDP address releases the latch."""
        self.codecs, self.dtmf_pts, self.allowed_hosts = codecs, dtmf_pts, allowed_hosts
        self._tables = {pt: TABLES[n] for pt, n in codecs.items() if n in TABLES}
        if expected is not None and expected != self.expected:
            self.expected = expected
            self.latched = None

    def admit(self, source: Source, arrival: float) -> bool:
        """Latching: may a valid RTP packet from ``source`` (not the latched one) be used?"""
        if source[0] not in self.allowed_hosts:
            self.stats.ignored_source += 1
            return False
        is_expected = source == self.expected
        if self.latched is None or (
            is_expected and not self.latched_expected and arrival - self.latched_at <= LATCH_WINDOW
        ):
            if self.latched is not None:
                # what the first latch left uncommitted goes, and its SSRC anchors with it
                # (cleared in place: the packet loop holds references to both)
                self.stats.relatched += 1
                self.pending.clear()
                self.sources.clear()
            self.latched, self.latched_at, self.latched_expected = source, arrival, is_expected
            return True
        self.stats.rejected_source += 1
        return False

    def summary(self) -> dict[str, Any]:
        s = self.stats
        lost = sum(
            max(0, (src.max_seq - src.base_seq + 1) - (src.received - src.duplicates))
            for src in self.sources.values()
        )
        return {
            "channel": self.channel,
            "label": self.label,
            "codecs": sorted(self.codecs_seen),
            "packets_received": s.packets,
            "packets_lost": lost,
            "packets_late": s.late,
            "packets_duplicate": s.duplicate,
            "packets_reordered": s.reordered,
            "packets_ignored_source": s.ignored_source,
            "packets_rejected_source": s.rejected_source,
            "latched": f"{self.latched[0]}:{self.latched[1]}" if self.latched else "",
            "relatched": s.relatched,
            "srtp": self.srtp is not None,
            "packets_srtp_failed": s.srtp_failed,
            "packets_invalid": s.invalid,
            "packets_rtcp_ignored": s.rtcp,
            "packets_unknown_payload_type": s.unknown_payload_type,
            "telephone_events": s.telephone_events,
            "ssrcs": len(self.sources),
            "discontinuities": s.discontinuities,
            "jitter_ms": round(s.jitter_ms, 3),
            "max_jitter_ms": round(s.max_jitter_ms, 3),
        }


def srtp_session(suite: str, key: bytes) -> Any:
    """A libsrtp receive session for one SDES key (any inbound SSRC)."""
    from pylibsrtp import Policy, Session

    profile = {
        "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    }[suite]
    return Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))


def _decrypted(st: MediaStream, batch: list[Any]) -> list[tuple[bytes, float | None, Source]]:
    """Every datagram of an SRTP stream authenticated and decrypted, in arrival order; those
    that fail (wrong key, forged, replayed, RTCP) are counted and dropped before anything else
    -- latching included -- sees them."""
    from pylibsrtp import Error as SrtpError

    packets: list[tuple[bytes, float | None, Source]] = []
    for item in batch:
        if type(item) is RtpBatch:
            packets.extend(item.packets())
        else:
            data, anc, _flags, addr = item
            arrival = None
            if anc:
                sec, nsec = _TS.unpack(anc[0][2])
                arrival = sec + nsec * 1e-9
            packets.append((data, arrival, (addr[0], addr[1])))
    out = []
    unprotect = st.srtp.unprotect
    for data, arrival, source in packets:
        if len(data) < 12 or data[0] & 0xC0 != 0x80 or 72 <= data[1] & 0x7F <= 76:
            st.stats.srtp_failed += 1
            continue
        try:
            out.append((unprotect(data), arrival, source))
        except SrtpError:
            st.stats.srtp_failed += 1
    return out


@dataclass(slots=True)
class DtmfDigit:
    position: int  # samples from the start of the recording
    digit: str
    channel: int


@dataclass(slots=True)
class PauseSpan:
    start: int
    end: int | None
    reason: str


class CallMedia:
    """All streams of one call plus pauses; produces stereo PCM chunks in timeline order."""

    def __init__(self, t0: float, *, channels: int = 2, holdback: float = 0.3) -> None:
        self.t0 = t0  # monotonic time of sample 0 (the answer)
        self.channels = channels
        self.holdback = int(holdback * RATE)
        self.streams: list[MediaStream] = []
        self.committed = 0  # samples already returned
        self.pauses: list[PauseSpan] = []
        self.digits: list[DtmfDigit] = []
        self.last_activity = t0

    def add_stream(
        self,
        channel: int,
        codecs: dict[int, str],
        dtmf_pts: set[int],
        allowed_hosts: set[str],
        label: str = "",
        expected: Source | None = None,
        srtp: Any = None,
    ) -> MediaStream:
        """``srtp``: the peer's SDES key (:class:`recorder.sdp.Crypto`) for an SRTP stream."""
        st = MediaStream(channel, codecs, dtmf_pts, allowed_hosts, label, expected)
        if srtp is not None:
            st.srtp = srtp_session(srtp.suite, srtp.key)
        self.streams.append(st)
        return st

    def position(self, now: float) -> int:
        return max(0, int((now - self.t0) * RATE))

    # ---------------------------------------------------------------- pauses

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].end is None

    def pause(self, position: int, reason: str) -> bool:
        if self.paused:
            return False
        self.pauses.append(PauseSpan(max(position, self.committed), None, reason))
        return True

    def resume(self, position: int) -> bool:
        if not self.paused:
            return False
        span = self.pauses[-1]
        span.end = max(position, span.start, self.committed)
        return True

    # ---------------------------------------------------------------- parsing

    def process(self, now: float, wall: float) -> list[DtmfDigit]:
        """Parse every datagram waiting in the inboxes; returns new DTMF digits."""
        new_digits: list[DtmfDigit] = []
        for st in self.streams:
            if st.inbox:
                # the shell holds ``inbox.append``: empty the same list, never replace it
                batch = st.inbox.copy()
                st.inbox.clear()
                self._process_stream(st, batch, now, wall, new_digits)
                self.last_activity = now
        self.digits.extend(new_digits)
        return new_digits

    def _process_stream(
        self,
        st: MediaStream,
        batch: list[Any],
        now: float,
        wall: float,
        digits: list[DtmfDigit],
    ) -> None:
        """Items are ``recvmsg`` tuples or :class:`RtpBatch` es, in arrival order."""
        slow: list[tuple[bytes, float | None, Source]] = []
        unpack_ts = _TS.unpack
        if st.srtp is not None:
            batch = [_decrypted(st, batch)]
        for item in batch:
            if type(item) is list:  # already (data, arrival, source) packets (SRTP)
                slow.extend(item)
                continue
            if type(item) is RtpBatch:
                if slow:
                    self._process_packets(st, slow, now, wall, digits)
                    slow = []
                if not self._process_batch(st, item, now, wall):
                    self._process_packets(st, item.packets(), now, wall, digits)
                continue
            data, anc, _flags, addr = item
            arrival = None
            if anc:
                sec, nsec = unpack_ts(anc[0][2])
                arrival = sec + nsec * 1e-9
            slow.append((data, arrival, (addr[0], addr[1])))
        if slow:
            self._process_packets(st, slow, now, wall, digits)
        if st.sources:
            jit = max(s.jitter for s in st.sources.values()) / RATE * 1000
            st.stats.jitter_ms = jit
            st.stats.max_jitter_ms = max(st.stats.max_jitter_ms, jit)

    def _process_batch(self, st: MediaStream, b: RtpBatch, now: float, wall: float) -> bool:
        """The fast path for a batch that is plain audio in order from one known source.

        Vectorised over the whole batch: equal lengths, RTP version 2 without padding,
        extension or CSRCs, one audio payload type, one SSRC already anchored, sequence numbers
        increasing (gaps allowed), timestamps on the timeline. Anything else returns False
        *before* changing any state, and the batch takes the general path instead. The results
        are the same either way (tests/recorder/test_rtpio.py), except where audio overlaps
        itself on the timeline -- only a re-anchored source does that -- which is resolved per
        contiguous run here rather than per packet.
        """
        if b.host is None or b.host != st.latched:
            return False
        lengths = b.lengths
        size = int(lengths[0])
        if size <= 12 or (lengths != size).any():
            return False
        data = b.data
        hdr = np.ascontiguousarray(data[:, :12]).view(_RTP_DTYPE)[:, 0]
        b0 = hdr["b0"]
        if (b0 != 0x80).any():
            return False
        pts = hdr["b1"] & 0x7F
        pt = int(pts[0])
        table = st._tables.get(pt)
        if table is None or (pts != pt).any():
            return False
        ssrcs = hdr["ssrc"]
        ssrc = int(ssrcs[0])
        src = st.sources.get(ssrc)
        if src is None or (ssrcs != ssrc).any():
            return False
        seq = hdr["seq"].astype(np.int64)
        first = (int(seq[0]) - src.max_seq) & 0xFFFF
        if not 0 < first < 0x8000:
            return False
        n = len(seq)
        steps = None
        if n > 1:
            steps = np.diff(seq) & 0xFFFF
            if (steps == 0).any() or (steps >= 0x8000).any():
                return False
        ts = hdr["ts"].astype(np.int64)
        pos = src.base_pos + (((ts - src.base_ts) + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        committed = self.committed
        if int(pos.max()) > self.position(now) + MAX_AHEAD or int(pos.min()) < (
            committed - MAX_BEHIND
        ):
            return False  # a discontinuity: the general path re-anchors packet by packet
        # -- accepted: from here on state changes
        src.max_seq += first + (int(steps.sum()) if steps is not None else 0)
        src.received += n
        arrival = b.arrival
        if np.isnan(arrival).any():
            arrival = np.where(np.isnan(arrival), wall, arrival)
        transit = (arrival * RATE - ts).tolist()
        prev, jitter = src.transit, src.jitter
        for t in transit:
            if prev is not None:
                jitter += (abs(t - prev) - jitter) / 16
            prev = t
        src.transit, src.jitter = prev, jitter
        stats = st.stats
        payload = size - 12
        stats.packets += n
        stats.payload_bytes += n * payload
        on_time = pos + payload > committed
        late = n - int(np.count_nonzero(on_time))
        if late:
            stats.late += late
            pos = pos[on_time]
            data = data[on_time]
            if not len(pos):
                st.codecs_seen.add(st.codecs[pt])
                return True
        body = data[:, 12:size]
        breaks = np.flatnonzero(np.diff(pos) != payload) + 1 if len(pos) > 1 else ()
        if not len(breaks):
            st.pending.append((int(pos[0]), body.tobytes(), table))
        else:  # losses: one run per contiguous stretch
            starts = [0, *breaks.tolist(), len(pos)]
            for a, z in pairwise(starts):
                st.pending.append((int(pos[a]), body[a:z].tobytes(), table))
        st.codecs_seen.add(st.codecs[pt])
        return True

    def _process_packets(
        self,
        st: MediaStream,
        packets: Any,
        now: float,
        wall: float,
        digits: list[DtmfDigit],
    ) -> None:
        """The general path, one datagram at a time: ``(data, arrival or None, source)``."""
        stats = st.stats
        tables = st._tables
        sources = st.sources
        pending = st.pending
        committed = self.committed
        horizon = self.position(now) + MAX_AHEAD
        unpack_hdr = _HDR.unpack_from
        t0_wall = wall - (now - self.t0)  # wall-clock time of sample 0
        seen_pts: set[int] = set()
        last_pt = -1
        for data, arrival, source in packets:
            n = len(data)
            if source != st.latched and (n < 12 or data[0] & 0xC0 != 0x80):
                # not RTP from a stranger: never latches (counted as before)
                if source[0] in st.allowed_hosts:
                    stats.invalid += 1
                else:
                    stats.ignored_source += 1
                continue
            if source != st.latched and not st.admit(source, wall if arrival is None else arrival):
                continue
            if n < 12:
                stats.invalid += 1
                continue
            b0 = data[0]
            if b0 & 0xC0 != 0x80:
                stats.invalid += 1
                continue
            pt = data[1] & 0x7F
            if 72 <= pt <= 76:  # RTCP multiplexed on the RTP port (RFC 5761)
                stats.rtcp += 1
                continue
            seq, ts, ssrc = unpack_hdr(data, 2)
            off = 12
            if b0 & 0x0F:
                off += 4 * (b0 & 0x0F)
            if b0 & 0x10:
                if n < off + 4:
                    stats.invalid += 1
                    continue
                off += 4 + 4 * int.from_bytes(data[off + 2 : off + 4], "big")
            end = n
            if b0 & 0x20:
                end -= data[-1]
            if off > end:
                stats.invalid += 1
                continue
            if arrival is None:
                arrival = wall
            src = sources.get(ssrc)
            if src is None:
                # a new source starts where the clock is when its first packet arrives
                pos0 = max(round((arrival - t0_wall) * RATE), committed)
                src = sources[ssrc] = _Source(ts, pos0, seq, seq)
                if len(sources) > 1:
                    stats.ssrc_changes += 1
            else:
                delta = (seq - src.max_seq) & 0xFFFF
                if delta == 0:
                    src.duplicates += 1
                    src.received += 1
                    stats.duplicate += 1
                    continue
                if delta < 0x8000:
                    src.max_seq += delta
                else:
                    src.reordered += 1
                    stats.reordered += 1
            src.received += 1
            pos = src.base_pos + (((ts - src.base_ts) + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            if pos > horizon or pos < committed - MAX_BEHIND:
                # timestamp jump (broken sender, pcap splice): re-anchor at the arrival time
                stats.discontinuities += 1
                src.base_ts = ts
                src.base_pos = pos = max(round((arrival - t0_wall) * RATE), committed)
            table = tables.get(pt)
            if table is not None:
                if pt != last_pt:
                    seen_pts.add(pt)
                    last_pt = pt
                stats.packets += 1
                payload = data[off:end]
                stats.payload_bytes += len(payload)
                transit = arrival * RATE - ts
                if src.transit is not None:
                    d = transit - src.transit
                    src.jitter += (abs(d) - src.jitter) / 16
                src.transit = transit
                if pos + len(payload) <= committed:
                    stats.late += 1
                    continue
                pending.append((pos, payload, table))
            elif pt in st.dtmf_pts:
                stats.telephone_events += 1
                if end - off >= 4:
                    event = data[off]
                    key = (ssrc, ts, event)
                    # one event = many packets with one timestamp; the same key again after a
                    # silence is a new press (replayed captures reuse timestamps)
                    last = st._events_seen.get(key)
                    st._events_seen[key] = arrival
                    if event < 16 and (last is None or arrival - last > 0.5):
                        digits.append(DtmfDigit(pos, _EVENTS[event], st.channel))
            elif pt == 13:
                stats.comfort_noise += 1
            else:
                stats.unknown_payload_type += 1
        st.codecs_seen.update(st.codecs[pt] for pt in seen_pts if pt in st.codecs)

    # ---------------------------------------------------------------- committing

    def flush(self, now: float, wall: float) -> tuple[np.ndarray, list[DtmfDigit]]:
        """Parse what arrived and return the PCM that is final (``holdback`` behind now)."""
        digits = self.process(now, wall)
        return self.commit(self.position(now) - self.holdback), digits

    def finish(self, now: float, wall: float) -> np.ndarray:
        """Everything that is left, up to the last sample received (bounded by the clock)."""
        self.process(now, wall)
        end = self.position(now)
        limit = end + MAX_AHEAD
        for st in self.streams:
            for pos, payload, _ in st.pending:
                if pos < limit:
                    end = max(end, pos + len(payload))
        if self.paused:
            self.resume(end)
        return self.commit(min(end, limit))

    def commit(self, upto: int) -> np.ndarray:
        start = self.committed
        if upto <= start:
            return np.zeros((0, self.channels), dtype=np.int16)
        out = np.zeros((upto - start, self.channels), dtype=np.int16)
        for st in self.streams:
            if st.pending:
                st.pending = self._place(st, out, start, upto)
        for span in self.pauses:
            a = max(span.start, start)
            b = upto if span.end is None else min(span.end, upto)
            if b > a:
                out[a - start : b - start] = 0
        self.committed = upto
        return out

    def _place(self, st: MediaStream, out: np.ndarray, start: int, upto: int) -> list[Any]:
        """Write pending payloads in [start, upto) into ``out``; return what stays pending."""
        pending = st.pending
        pending.sort(key=itemgetter(0))
        keep: list[Any] = []
        ch = st.channel
        run_pos = -1
        run_end = -1
        run_table: np.ndarray | None = None
        parts: list[bytes] = []

        def emit() -> None:
            if parts and run_table is not None:
                samples = run_table[np.frombuffer(b"".join(parts), dtype=np.uint8)]
                a = run_pos - start
                b = a + len(samples)
                if a < 0:
                    samples, a = samples[-a:], 0
                out[a:b, ch] = samples

        for item in pending:
            pos, payload, table = item
            if pos >= upto:
                keep.append(item)
                continue
            if pos < run_end:  # overlaps what is already placed
                if pos == run_pos or pos + len(payload) <= run_end:
                    st.stats.duplicate += 1
                    continue
                payload = payload[run_end - pos :]
                pos = run_end
            if pos + len(payload) > upto:  # straddles the commit point: split
                keep.append((upto, payload[upto - pos :], table))
                payload = payload[: upto - pos]
            if pos != run_end or table is not run_table:
                emit()
                parts = []
                run_pos, run_table = pos, table
            parts.append(payload)
            run_end = pos + len(payload)
        emit()
        return keep
