"""The recording server's SIP side as a sans-I/O state machine.

``RecorderCore.receive(data, source, ..., now, wall)`` and ``tick(now, wall)`` return actions
(:class:`Send`, :class:`CallStarted`, :class:`CallUpdated`, :class:`CallEnded`,
:class:`SmsReceived`); the asyncio shell performs them. Time is always passed in, so tests
drive the core in memory with no sockets and no sleeping.

Responses always go back to the address the request came from (RFC 3581), and requests we
originate (BYE) go to the address the INVITE came from -- never to a host named inside a
message, so a forged Via or Contact cannot make the recorder send packets elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recorder.config import RecorderSettings
from recorder.media import RATE, CallMedia, MediaStream
from recorder.messages import SmsCheck, sms_problem
from recorder.sdp import (
    DEFAULT_DTMF_PT,
    AnsweredStream,
    SdpError,
    SessionDescription,
    SiprecMetadata,
    build_answer,
    choose_crypto,
    choose_formats,
    is_srtp,
    local_crypto,
    parse_rs_metadata,
    parse_sdp,
    split_multipart,
)
from recorder.sip import (
    NameAddr,
    SipMessage,
    SipParseError,
    build_request,
    build_response,
    parse_message,
    parse_name_addr,
)
from recorder.stats import RecorderStats

T1, T2, TIMER_B = 0.5, 4.0, 32.0
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE"
# methods of registered SIP extensions a recording server does not serve: 405, others 501
KNOWN_METHODS = frozenset({"REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "PUBLISH", "PRACK"})
SERVER = "recflow-recorder"
Source = tuple[str, int]


@dataclass(slots=True)
class Send:
    data: bytes
    addr: Source
    transport: str = "udp"
    conn: Any = None  # the TCP connection to answer on


@dataclass(slots=True)
class CallStarted:
    call: Call


@dataclass(slots=True)
class CallUpdated:
    call: Call


@dataclass(slots=True)
class CallEnded:
    call: Call
    reason: str


@dataclass(slots=True)
class SmsReceived:
    from_number: str
    to_number: str
    text: str
    received_at: datetime
    call_id: str
    from_name: str


Action = Send | CallStarted | CallUpdated | CallEnded | SmsReceived


def _tag() -> str:
    return secrets.token_hex(6)


def direction_of(from_number: str, to_number: str) -> str:
    """Short numbers are extensions: extension → long = outbound, long → extension = inbound."""

    def is_ext(n: str) -> bool:
        digits = re.sub(r"\D", "", n)
        return 0 < len(digits) <= 6 and not n.startswith("+")

    f, t = is_ext(from_number), is_ext(to_number)
    if not from_number or not to_number:
        return "unknown"
    if f and t:
        return "internal"
    if f:
        return "outbound"
    if t:
        return "inbound"
    return "unknown"  # two external numbers: a forked trunk call, direction not signalled


@dataclass(eq=False)
class Call:
    """One recorded call (a SIP dialog in which the recorder is the UAS)."""

    call_id: str
    recording_id: str
    invite: SipMessage
    source: Source
    transport: str
    conn: Any
    local_tag: str
    remote: NameAddr
    local: NameAddr
    started_at: datetime
    media: CallMedia
    local_host: str
    siprec: bool = False
    state: str = "proceeding"  # proceeding → answered (200 sent) → confirmed (ACK) → ended
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str = ""
    private: bool = False
    ports: list[int] = field(default_factory=list)
    answered_streams: list[AnsweredStream] = field(default_factory=list)
    stream_by_index: dict[int, MediaStream] = field(default_factory=dict)
    participants: list[dict[str, Any]] = field(default_factory=list)
    from_number: str = ""
    from_name: str = ""
    to_number: str = ""
    to_name: str = ""
    direction: str = "unknown"
    initial_direction: str = "sendrecv"
    pause_reasons: set[str] = field(default_factory=set)
    sdp_version: int = 1
    invite_cseq: int = 0
    remote_cseq: int = 0
    local_cseq: int = 0
    last_response: bytes = b""
    retransmit_at: float | None = None
    retransmit_interval: float = T1
    retransmit_until: float = 0.0
    answer_at: float = 0.0
    bye: bytes = b""
    bye_at: float | None = None
    bye_interval: float = T1
    bye_until: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    dtmf_consumed: int = 0
    # recording policy (issue 16): the decision and its rule; media is kept only while
    # ``recording`` (an on-demand call starts at sample ``record_from``)
    policy: dict[str, Any] = field(default_factory=dict)
    recording: bool = True
    record_from: int | None = None
    record_limit: int = 0  # samples kept at most (0 = no limit)

    @property
    def codec(self) -> str:
        seen: set[str] = set()
        for st in self.media.streams:
            seen |= st.codecs_seen
        if not seen:
            for st in self.media.streams:
                seen |= set(st.codecs.values())
        return "+".join(sorted(seen))

    def describe(self) -> dict[str, Any]:
        """Everything the catalog row needs except the audio; also the crash sidecar."""
        shift = self.record_from or 0  # an on-demand file starts where recording started
        pauses = [
            {
                "start": max(0, p.start - shift) / RATE,
                "end": max(0, (p.end if p.end is not None else self.media.committed) - shift)
                / RATE,
                "reason": p.reason,
            }
            for p in self.media.pauses
            if (p.end is None or p.end > shift)
        ]
        return {
            "recording_id": self.recording_id,
            "call_id": self.call_id,
            "from_number": self.from_number,
            "from_name": self.from_name,
            "to_number": self.to_number,
            "to_name": self.to_name,
            "direction": self.direction,
            "started_at": self.started_at.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "codec": self.codec,
            "private": self.private,
            "participants": self.participants,
            "pauses": pauses,
            "policy": dict(self.policy),
            "recorded": self.recording,
            "metadata": {
                "capture": "siprec" if self.siprec else "sip",
                "transport": self.transport,
                "source": f"{self.source[0]}:{self.source[1]}",
                "end_reason": self.end_reason,
                "dtmf": "".join(d.digit for d in self.media.digits),
                "streams": [st.summary() for st in self.media.streams],
                **self.extra,
            },
        }


class RecorderCore:
    """SIP UAS for recording: transactions, dialogs, offer/answer, call lifecycle."""

    def __init__(
        self,
        settings: RecorderSettings,
        *,
        allocate_port: Callable[[], int | None],
        release_port: Callable[[int], None],
        sip_port: int = 5060,
        advertise: str = "",
        check_sms: SmsCheck = sms_problem,
    ) -> None:
        self.settings = settings
        self.check_sms = check_sms
        self.allocate_port = allocate_port
        self.release_port = release_port
        self.sip_port = sip_port
        self.advertise = advertise or settings.advertise_address
        self.calls: dict[str, Call] = {}
        self.ended: dict[str, tuple[float, Call]] = {}  # absorbs retransmitted BYEs
        self._responses: dict[tuple[str, str, str], tuple[float, bytes]] = {}  # non-INVITE
        self._trusted = [ipaddress.ip_network(c, strict=False) for c in settings.trusted_sources]
        self._trust_cache: dict[str, bool] = {}
        self.counters: dict[str, int] = {}
        self.stats = RecorderStats()  # what monitoring reads (recorder.stats)
        # recording policy: ``decide(from, to, direction) -> (decision, rule)``, swapped by the
        # shell when the configuration changes; None records every call
        self.decide: Callable[[str, str, str], tuple[str, str]] | None = None
        self.on_demand_code = ""
        self.max_record_seconds = 0.0

    # ---------------------------------------------------------------- entry points

    def receive(
        self,
        data: bytes,
        source: Source,
        *,
        transport: str = "udp",
        conn: Any = None,
        now: float,
        wall: float,
        local_host: str = "127.0.0.1",
    ) -> list[Action]:
        if not data.strip():
            return []  # keep-alive
        try:
            msg = parse_message(data, stream=transport in ("tcp", "tls"))
        except SipParseError as e:
            self._count("malformed")
            resp = best_effort_error(data, e.status, e.reason, source)
            return [Send(resp, source, transport, conn)] if resp else []
        if not msg.is_request:
            self._on_response(msg)
            return []
        out: list[Action] = []
        reply = self._replier(msg, source, transport, conn, out)
        if not self.trusted(source[0]):
            self._count("forbidden")
            if msg.method == "INVITE":
                self.stats.rejected("forbidden")
            if msg.method != "ACK":
                reply(403, "Forbidden")
            return out
        self._count(msg.method)
        handler = getattr(self, f"_on_{msg.method.lower()}", None)
        if msg.method != "INVITE" and msg.method != "ACK":
            cached = self._responses.get(self._txn_key(msg))
            if cached is not None:
                out.append(Send(cached[1], source, transport, conn))
                return out
        if handler is None:
            if msg.method in KNOWN_METHODS:  # RFC 3261 §8.2.1: known but not served here
                reply(405, "Method Not Allowed", extra=[("Allow", ALLOW)])
            else:
                reply(501, "Not Implemented", extra=[("Allow", ALLOW)])
            return out
        handler(msg, source, transport, conn, now, wall, local_host, out, reply)
        return out

    def tick(self, now: float, wall: float) -> list[Action]:
        """Timers: ringing → answer, 2xx and BYE retransmission, RTP timeouts, expiry."""
        out: list[Action] = []
        for call in list(self.calls.values()):
            if call.state == "proceeding" and call.answer_at and now >= call.answer_at:
                self._answer(call, now, wall, out)
            if call.retransmit_at is not None and now >= call.retransmit_at:
                if now >= call.retransmit_until:
                    call.retransmit_at = None
                    self._end(call, "no-ack", now, wall, out, send_bye=True)
                    continue
                out.append(Send(call.last_response, call.source, call.transport, call.conn))
                call.retransmit_interval = min(call.retransmit_interval * 2, T2)
                call.retransmit_at = now + call.retransmit_interval
            if call.state in ("answered", "confirmed"):
                idle = now - call.media.last_activity
                limit = (
                    self.settings.hold_timeout_seconds
                    if call.pause_reasons
                    else self.settings.rtp_timeout_seconds
                )
                if idle > limit:
                    self._end(call, "rtp-timeout", now, wall, out, send_bye=True)
        for cid, (until, call) in list(self.ended.items()):
            if call.bye_at is not None and now >= call.bye_at:
                if now >= call.bye_until:
                    call.bye_at = None
                else:
                    out.append(Send(call.bye, call.source, call.transport, call.conn))
                    call.bye_interval = min(call.bye_interval * 2, T2)
                    call.bye_at = now + call.bye_interval
            if now >= until:
                del self.ended[cid]
        for key, (until, _) in list(self._responses.items()):
            if now >= until:
                del self._responses[key]
        return out

    def stop_call(self, call_id: str, reason: str, *, now: float, wall: float) -> list[Action]:
        """End a call from our side (API, shutdown): BYE to the peer, then capture."""
        out: list[Action] = []
        call = self.calls.get(call_id)
        if call is not None:
            self._end(call, reason, now, wall, out, send_bye=call.state != "proceeding")
        return out

    def set_paused(self, call_id: str, paused: bool, reason: str, *, now: float) -> list[Action]:
        """Pause or resume recording of a live call (the API's pause/resume)."""
        call = self.calls.get(call_id)
        if call is None:
            return []
        self._set_pause(call, reason, paused, call.media.position(now))
        return [CallUpdated(call)]

    def set_recording(self, call_id: str, on: bool, *, now: float) -> tuple[str, list[Action]]:
        """Start or stop recording an on-demand call (the API's start/stop). Stopping pauses
        the file; starting again resumes it. Returns (outcome, actions)."""
        call = self.calls.get(call_id)
        if call is None:
            return "no_such_call", []
        if call.policy.get("decision") != "on_demand":
            return "not_on_demand", []
        pos = call.media.position(now)
        if on and not call.recording:
            call.recording, call.record_from = True, pos
            call.policy["started_by"] = "api"
        elif call.recording:
            self._set_pause(call, "on_demand", not on, pos)
        return "applied", [CallUpdated(call)]

    def on_digits(self, call: Call, now: float) -> list[Action]:
        """DTMF seen in the media (the shell calls this after a flush): private/pause codes.

        Each new digit is checked as the possible last digit of every code, so a code is acted
        on exactly once, at the timeline position of its last digit."""
        s = self.settings
        digits = call.media.digits
        out: list[Action] = []
        codes = [(s.private_code, "private"), (s.pause_code, "pause"), (s.resume_code, "resume")]
        if call.policy.get("decision") == "on_demand":
            codes.append((self.on_demand_code, "record"))
        for i in range(call.dtmf_consumed, len(digits)):
            window = "".join(d.digit for d in digits[max(0, i - 7) : i + 1])
            for code, action in codes:
                if not code or not window.endswith(code):
                    continue
                pos = digits[i].position
                if action == "record":
                    if not call.recording:
                        call.recording, call.record_from = True, pos
                        call.policy["started_by"] = "dtmf"
                elif action == "private":
                    call.private = True
                else:
                    self._set_pause(call, "dtmf", action == "pause", pos)
                out.append(CallUpdated(call))
        call.dtmf_consumed = len(digits)
        return out

    # ---------------------------------------------------------------- helpers

    def trusted(self, host: str) -> bool:
        hit = self._trust_cache.get(host)
        if hit is None:
            try:
                ip = ipaddress.ip_address(host.split("%", 1)[0])
                hit = any(ip in net for net in self._trusted)
            except ValueError:
                hit = False
            if len(self._trust_cache) < 10000:
                self._trust_cache[host] = hit
        return hit

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    @staticmethod
    def _txn_key(msg: SipMessage) -> tuple[str, str, str]:
        return (msg.call_id, msg.branch or msg.get("cseq"), msg.method)

    def _replier(
        self, msg: SipMessage, source: Source, transport: str, conn: Any, out: list[Action]
    ) -> Callable[..., bytes]:
        def reply(status: int, reason: str, **kw: Any) -> bytes:
            kw.setdefault("extra", [])
            kw["extra"] = [("Server", SERVER), *kw["extra"]]
            data = build_response(msg, status, reason, source=source, **kw)
            out.append(Send(data, source, transport, conn))
            if msg.method not in ("INVITE", "ACK") and status >= 200:
                self._responses[self._txn_key(msg)] = (self._now + TIMER_B, data)
            return data

        return reply

    _now = 0.0

    def _contact(self, host: str, transport: str) -> str:
        if transport == "tls":
            return f"<sip:recorder@{host}:{self.tls_port};transport=tls>"
        t = ";transport=tcp" if transport == "tcp" else ""
        return f"<sip:recorder@{host}:{self.sip_port}{t}>"

    tls_port = 5061  # set by the shell when it listens for SIP over TLS

    # ---------------------------------------------------------------- INVITE

    def _on_invite(self, msg, source, transport, conn, now, wall, local_host, out, reply):  # type: ignore[no-untyped-def]
        self._now = now
        call = self.calls.get(msg.call_id)
        if call is not None:
            cseq, _ = msg.cseq
            if cseq == call.invite_cseq and msg.branch == call.invite.branch:
                if call.last_response:  # retransmission of the initial INVITE
                    out.append(Send(call.last_response, source, transport, conn))
                return
            to_tag = parse_name_addr(msg.get("to")).tag
            if to_tag != call.local_tag:
                reply(482, "Loop Detected")
                return
            self._reinvite(call, msg, source, transport, conn, now, out, reply)
            return
        if parse_name_addr(msg.get("to")).tag:
            reply(481, "Call/Transaction Does Not Exist")
            return
        if len(self.calls) >= self.settings.max_calls:
            self._count("rejected_busy")
            self.stats.rejected("busy")
            reply(503, "Service Unavailable", extra=[("Retry-After", "5")])
            return
        try:
            offer, metadata, siprec = self._read_offer(msg)
        except SdpError as e:
            self.stats.rejected("bad_sdp")
            reply(400, f"Bad SDP: {e}")
            return
        if offer is None:
            self.stats.rejected("not_acceptable")
            warning = '399 recflow "SDP offer required"'
            reply(488, "Not Acceptable Here", extra=[("Warning", warning)])
            return
        host = self.advertise or local_host
        remote = parse_name_addr(msg.get("from"))
        local = parse_name_addr(msg.get("to"))
        call = Call(
            call_id=msg.call_id,
            recording_id=str(uuid.uuid4()),
            invite=msg,
            source=source,
            transport=transport,
            conn=conn,
            local_tag=_tag(),
            remote=remote,
            local=local,
            started_at=datetime.fromtimestamp(wall, UTC),
            media=CallMedia(
                now,
                holdback=self.settings.reorder_window_seconds,
            ),
            local_host=host,
            siprec=siprec,
            invite_cseq=msg.cseq[0],
            remote_cseq=msg.cseq[0],
        )
        call.media.last_activity = now
        call.from_number, call.from_name = remote.user, remote.display_name
        call.to_number, call.to_name = local.user, local.display_name
        problem = self._negotiate(call, offer, metadata, source)
        if problem:
            for p in call.ports:
                self.release_port(p)
            if problem == "ports":
                self._count("rejected_busy")
                self.stats.rejected("busy")
                reply(503, "Service Unavailable", extra=[("Retry-After", "5")])
            else:
                self.stats.rejected("not_acceptable")
                reply(488, "Not Acceptable Here", extra=[("Warning", f'399 recflow "{problem}"')])
            return
        call.initial_direction = offer.media_direction(offer.media[0]) if offer.media else ""
        call.direction = direction_of(call.from_number, call.to_number)
        if metadata is not None and metadata.direction in ("inbound", "outbound", "internal"):
            call.direction = metadata.direction
        call.extra["user_agent"] = msg.get("user-agent")[:200]
        if self.decide is not None:
            decision, rule = self.decide(call.from_number, call.to_number, call.direction)
            call.policy = {"decision": decision, "rule": rule}
            call.recording = decision == "recorded"
            call.record_limit = int(self.max_record_seconds * RATE)
        self.calls[call.call_id] = call
        out.append(CallStarted(call))
        if self.settings.answer_delay_seconds > 0:
            reply(100, "Trying")
            call.last_response = reply(
                180,
                "Ringing",
                to_tag=call.local_tag,
                extra=[("Contact", self._contact(host, transport))],
            )
            call.answer_at = now + self.settings.answer_delay_seconds
        else:
            self._answer(call, now, wall, out)

    def _read_offer(
        self, msg: SipMessage
    ) -> tuple[SessionDescription | None, SiprecMetadata | None, bool]:
        ctype = msg.content_type
        if not msg.body:
            return None, None, False
        if ctype == "application/sdp":
            return parse_sdp(msg.body), None, False
        if ctype.startswith("multipart/"):
            sdp, meta = None, None
            for ptype, content in split_multipart(msg.get("content-type"), msg.body):
                pt = ptype.split(";", 1)[0].strip().lower()
                if pt == "application/sdp":
                    sdp = parse_sdp(content)
                elif pt.endswith("metadata+xml") or pt == "application/xml":
                    meta = parse_rs_metadata(content)
            return sdp, meta or SiprecMetadata(), True
        raise SdpError(f"unsupported body type {ctype or '(none)'}")

    def _negotiate(
        self,
        call: Call,
        offer: SessionDescription,
        metadata: SiprecMetadata | None,
        source: Source,
    ) -> str:
        """Accept up to two audio streams; map them to channels; allocate our ports.
        Returns a problem ("ports", or why nothing was acceptable) or "" on success."""
        streams: list[AnsweredStream] = []
        channel = 0
        for i, m in enumerate(offer.media):
            if m.media != "audio" or m.port == 0 or channel >= 2:
                continue
            codecs, dtmf = choose_formats(m)
            crypto = choose_crypto(m) if is_srtp(m) else None
            if not codecs or (is_srtp(m) and crypto is None):
                continue  # SRTP without an SDES key we can use: not this stream
            port = self.allocate_port()
            if port is None:
                return "ports"
            call.ports.append(port)
            peer = offer.media_address(m)
            streams.append(
                AnsweredStream(
                    i,
                    port,
                    codecs,
                    dtmf or {DEFAULT_DTMF_PT},
                    peer,
                    m.port,
                    m.label,
                    offer.media_direction(m),
                    crypto,
                    local_crypto(crypto),
                )
            )
            channel += 1
        if not streams:
            return "no acceptable audio stream (PCMU or PCMA)"
        call.answered_streams = streams
        for ch, st in enumerate(streams):
            allowed = {source[0]}
            if st.peer_host and st.peer_host not in ("0.0.0.0", "::"):
                allowed.add(st.peer_host)
            dtmf = set(st.dtmf_pts) | ({96} if 96 not in st.codecs else set())
            call.stream_by_index[st.index] = call.media.add_stream(
                ch, st.codecs, dtmf, allowed, st.label, (st.peer_host, st.peer_port), st.crypto
            )
        self._map_participants(call, metadata)
        return ""

    def _map_participants(self, call: Call, metadata: SiprecMetadata | None) -> None:
        parts: list[dict[str, Any]] = []
        if metadata is not None:
            for st in call.answered_streams:
                ch = call.stream_by_index[st.index].channel
                p = metadata.participant_for_label(st.label) if st.label else None
                if (
                    p is None
                    and len(metadata.participants) > ch
                    and not any(pp.send for pp in metadata.participants)
                ):
                    p = metadata.participants[ch]  # no stream association: document order
                if p is None:
                    continue
                number = uri_number(p.aor)
                parts.append(
                    {
                        "number": number,
                        "name": p.name,
                        "role": "caller" if ch == 0 else "callee",
                        "participant_id": p.participant_id,
                    }
                )
                if ch == 0:
                    call.from_number, call.from_name = number, p.name
                else:
                    call.to_number, call.to_name = number, p.name
        else:
            parts.append(
                {
                    "number": call.from_number,
                    "name": call.from_name,
                    "role": "caller",
                    "participant_id": "",
                }
            )
            parts.append(
                {
                    "number": call.to_number,
                    "name": call.to_name,
                    "role": "callee",
                    "participant_id": "",
                }
            )
        call.participants = parts

    def _answer_sdp(self, call: Call, offer: SessionDescription) -> bytes:
        return build_answer(
            offer,
            call.ports,
            call.answered_streams,
            host=call.local_host,
            session_id=abs(hash(call.recording_id)) % 10**9,
            version=call.sdp_version,
        )

    def _answer(self, call: Call, now: float, wall: float, out: list[Action]) -> None:
        offer, _, _ = self._read_offer(call.invite)
        assert offer is not None
        data = build_response(
            call.invite,
            200,
            "OK",
            source=call.source,
            to_tag=call.local_tag,
            extra=[
                ("Server", SERVER),
                ("Contact", self._contact(call.local_host, call.transport)),
                ("Allow", ALLOW),
                ("Supported", "siprec" if call.siprec else "timer"),
            ],
            body=self._answer_sdp(call, offer),
            content_type="application/sdp",
        )
        call.state = "answered"
        call.answered_at = datetime.fromtimestamp(wall, UTC)
        call.last_response = data
        call.answer_at = 0.0
        out.append(Send(data, call.source, call.transport, call.conn))
        out.append(CallUpdated(call))
        if call.transport == "udp":
            call.retransmit_at = now + T1
            call.retransmit_interval = T1
            call.retransmit_until = now + TIMER_B

    def _reinvite(self, call, msg, source, transport, conn, now, out, reply):  # type: ignore[no-untyped-def]
        cseq, _ = msg.cseq
        if cseq <= call.remote_cseq:
            reply(500, "Server Internal Error", extra=[("Retry-After", "1")])
            return
        call.remote_cseq = cseq
        try:
            offer, _meta, _ = self._read_offer(msg)
        except SdpError as e:
            reply(400, f"Bad SDP: {e}")
            return
        if offer is not None:
            self._apply_reoffer(call, offer, source, now)
            call.invite = msg  # answers are built from the latest offer
            call.sdp_version += 1
            body = self._answer_sdp(call, offer)
        else:
            first, _, _ = self._read_offer(call.invite)
            body = self._answer_sdp(call, first) if first else b""
        data = reply(
            200,
            "OK",
            to_tag=call.local_tag,
            extra=[("Contact", self._contact(call.local_host, call.transport))],
            body=body,
            content_type="application/sdp" if body else "",
        )
        call.last_response = data
        if transport == "udp":
            call.retransmit_at = now + T1
            call.retransmit_interval = T1
            call.retransmit_until = now + TIMER_B
        call.invite_cseq = cseq
        out.append(CallUpdated(call))

    def _apply_reoffer(
        self, call: Call, offer: SessionDescription, source: Source, now: float
    ) -> None:
        """New addresses/codecs per stream; hold (inactive, recvonly, or sendonly after
        sendrecv, or c=0.0.0.0) pauses the recording until a re-INVITE resumes it."""
        sending = False
        for st in call.answered_streams:
            if st.index >= len(offer.media):
                continue
            m = offer.media[st.index]
            direction = offer.media_direction(m)
            host = offer.media_address(m)
            codecs, dtmf = choose_formats(m)
            if codecs:
                st.codecs = codecs
            st.dtmf_pts = dtmf or st.dtmf_pts
            st.direction = direction
            allowed = {source[0]}
            if host and host not in ("0.0.0.0", "::"):
                allowed.add(host)
            ms = call.stream_by_index[st.index]
            dtmf = set(st.dtmf_pts) | {96} - set(st.codecs)
            ms.update(st.codecs, dtmf, allowed, (host, m.port) if host else None)
            held = (
                direction in ("inactive", "recvonly")
                or host in ("0.0.0.0", "::")
                or m.port == 0
                or (direction == "sendonly" and call.initial_direction == "sendrecv")
            )
            if held:
                st.direction = "inactive"
            sending = sending or not held
        self._set_pause(call, "reinvite", not sending, call.media.position(now))

    def _set_pause(self, call: Call, reason: str, paused: bool, position: int) -> None:
        before = bool(call.pause_reasons)
        if paused:
            call.pause_reasons.add(reason)
        else:
            call.pause_reasons.discard(reason)
        if call.pause_reasons and not before:
            call.media.pause(position, reason)
        elif before and not call.pause_reasons:
            call.media.resume(position)

    # ---------------------------------------------------------------- in-dialog requests

    def _on_ack(self, msg, source, transport, conn, now, wall, local_host, out, reply):  # type: ignore[no-untyped-def]
        call = self.calls.get(msg.call_id)
        if call is not None and call.state in ("answered", "confirmed"):
            call.state = "confirmed"
            call.retransmit_at = None

    def _on_bye(self, msg, source, transport, conn, now, wall, local_host, out, reply):  # type: ignore[no-untyped-def]
        self._now = now
        call = self.calls.get(msg.call_id)
        if call is None or parse_name_addr(msg.get("to")).tag != call.local_tag:
            ended = self.ended.get(msg.call_id)
            if ended is not None:
                reply(200, "OK")
                return
            reply(481, "Call/Transaction Does Not Exist")
            return
        reply(200, "OK")
        self._end(call, "bye", now, wall, out, send_bye=False)

    def _on_cancel(self, msg, source, transport, conn, now, wall, local_host, out, reply):  # type: ignore[no-untyped-def]
        self._now = now
        call = self.calls.get(msg.call_id)
        if call is None or call.invite.branch != msg.branch:
            reply(481, "Call/Transaction Does Not Exist")
            return
        reply(200, "OK")
        if call.state == "proceeding":
            data = build_response(
                call.invite,
                487,
                "Request Terminated",
                source=call.source,
                to_tag=call.local_tag,
                extra=[("Server", SERVER)],
            )
            out.append(Send(data, call.source, call.transport, call.conn))
            call.last_response = data
            self._end(call, "cancel", now, wall, out, send_bye=False)

    def _on_options(self, msg, source, transport, conn, now, wall, local_host, out, reply):  # type: ignore[no-untyped-def]
        self._now = now
        reply(
            200,
            "OK",
            extra=[
                ("Allow", ALLOW),
                ("Accept", "application/sdp, multipart/mixed, text/plain"),
                ("Supported", "siprec"),
            ],
        )

    def _on_info(self, msg, source, transport, conn, now, wall, local_host, out, reply):  # type: ignore[no-untyped-def]
        self._now = now
        call = self.calls.get(msg.call_id)
        if call is None:
            reply(481, "Call/Transaction Does Not Exist")
            return
        reply(200, "OK")
        # SIP INFO DTMF (application/dtmf-relay "Signal=1"), as older PBXs send it
        m = re.search(rb"(?im)^signal\s*=\s*([0-9*#A-D])", msg.body)
        if m and msg.content_type in ("application/dtmf-relay", "application/dtmf"):
            from recorder.media import DtmfDigit

            call.media.digits.append(DtmfDigit(call.media.position(now), m.group(1).decode(), 0))
            out.extend(self.on_digits(call, now))

    def _on_update(self, msg, source, transport, conn, now, wall, local_host, out, reply):  # type: ignore[no-untyped-def]
        self._now = now
        call = self.calls.get(msg.call_id)
        if call is None:
            reply(481, "Call/Transaction Does Not Exist")
            return
        try:
            offer, _, _ = self._read_offer(msg)
        except SdpError as e:
            reply(400, f"Bad SDP: {e}")
            return
        if offer is None:
            reply(200, "OK")
            return
        self._apply_reoffer(call, offer, source, now)
        call.sdp_version += 1
        reply(200, "OK", body=self._answer_sdp(call, offer), content_type="application/sdp")
        out.append(CallUpdated(call))

    def _on_message(self, msg, source, transport, conn, now, wall, local_host, out, reply):  # type: ignore[no-untyped-def]
        self._now = now
        if msg.content_type not in ("text/plain", ""):
            reply(415, "Unsupported Media Type", extra=[("Accept", "text/plain")])
            return
        try:
            text = msg.body.decode("utf-8")
        except UnicodeDecodeError:
            reply(400, "Message body is not UTF-8")
            return
        sender = parse_name_addr(msg.get("from"))
        to = parse_name_addr(msg.get("to"))
        to_number = to.user or uri_number(msg.uri)
        refused = self.check_sms(sender.user, to_number, text)
        if refused is not None:  # validated before it is answered: never 200 then dropped
            self._count("message_refused")
            why = re.sub(r'[\x00-\x1f"\\]', "'", refused[1])[:120]
            reply(refused[0], why, extra=[("Warning", f'399 recflow "{why}"')])
            return
        reply(200, "OK")
        out.append(
            SmsReceived(
                sender.user,
                to_number,
                text,
                datetime.fromtimestamp(wall, UTC),
                msg.call_id,
                sender.display_name,
            )
        )

    # ---------------------------------------------------------------- responses and ending

    def _on_response(self, msg: SipMessage) -> None:
        _, method = msg.cseq
        ended = self.ended.get(msg.call_id)
        if method == "BYE" and ended is not None and msg.status >= 200:
            ended[1].bye_at = None

    def _end(
        self, call: Call, reason: str, now: float, wall: float, out: list[Action], *, send_bye: bool
    ) -> None:
        if call.state == "ended":
            return
        call.state = "ended"
        call.end_reason = reason
        call.ended_at = datetime.fromtimestamp(wall, UTC)
        call.retransmit_at = None
        self.calls.pop(call.call_id, None)
        self.ended[call.call_id] = (now + TIMER_B, call)
        if send_bye:
            call.bye = self._build_bye(call)
            out.append(Send(call.bye, call.source, call.transport, call.conn))
            if call.transport == "udp":
                call.bye_at, call.bye_interval, call.bye_until = now + T1, T1, now + TIMER_B
        out.append(CallEnded(call, reason))

    def _build_bye(self, call: Call) -> bytes:
        inv = call.invite
        contact = inv.get_all("contact")
        target = parse_name_addr(contact[0]).uri if contact else call.remote.uri
        call.local_cseq += 1
        proto = call.transport.upper() if call.transport in ("tcp", "tls") else "UDP"
        port = self.tls_port if call.transport == "tls" else self.sip_port
        headers = [
            (
                "Via",
                f"SIP/2.0/{proto} {call.local_host}:{port};branch=z9hG4bK{_tag()};rport",
            ),
            ("Max-Forwards", "70"),
        ]
        for rr in inv.get_all("record-route"):
            headers.append(("Route", rr))
        to = inv.get("to")
        if "tag=" not in to:
            to = f"{to};tag={call.local_tag}"
        headers += [
            ("From", to),
            ("To", inv.get("from")),
            ("Call-ID", call.call_id),
            ("CSeq", f"{call.local_cseq} BYE"),
            ("Reason", f'SIP;cause=200;text="{call.end_reason}"'),
            ("Server", SERVER),
        ]
        return build_request("BYE", target or "sip:unknown@invalid", headers)


def uri_number(uri: str) -> str:
    from recorder.sip import uri_user

    return uri_user(uri) or uri


_HDR_RE = {
    name: re.compile(rb"(?im)^(?:" + pat + rb")[ \t]*:[ \t]*(.*?)\r?$")
    for name, pat in (
        ("via", rb"via|v"),
        ("from", rb"from|f"),
        ("to", rb"to|t"),
        ("call-id", rb"call-id|i"),
        ("cseq", rb"cseq"),
    )
}


def best_effort_error(data: bytes, status: int, reason: str, source: Source) -> bytes | None:
    """A 4xx for a request we could not parse, when it still names enough to be answered.

    Never answers responses, ACKs, or messages without a Via (nothing to route by).
    """
    first = data.lstrip()[:200].split(b"\n", 1)[0]
    if first.upper().startswith(b"SIP/") or first.upper().startswith(b"ACK "):
        return None
    found: dict[str, str] = {}
    for name, rx in _HDR_RE.items():
        m = rx.search(data[:65535])
        if m is None:
            if name in ("via", "call-id"):
                return None
            continue
        found[name] = m.group(1).decode("utf-8", "replace").strip()[:1000]
    headers = tuple(found.items())
    fake = SipMessage(method="X", uri="sip:x", headers=headers)
    reason = re.sub(r"[\r\n]", " ", reason)[:100]
    return build_response(fake, status, reason, source=source, extra=[("Server", SERVER)])
