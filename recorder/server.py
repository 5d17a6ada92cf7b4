"""The asyncio shell around :class:`recorder.core.RecorderCore`: sockets, timers, files.

Hot path, designed for thousands of concurrent streams per core: one UDP socket per RTP port
in a private ``epoll`` set that is drained every ``DRAIN_INTERVAL`` (not one wake-up per
packet); draining a ready socket is one ``recvmmsg`` call (:mod:`recorder.rtpio`) that
hands the stream one batch of arrays, with the kernel's arrival timestamps (SO_TIMESTAMPNS)
kept for jitter and placement. Everything else -- header parsing,
decoding, reordering -- happens in bulk once per ``flush_interval`` per call, in
:mod:`recorder.media`. Files are appended once per flush; closing (fsync) and the catalog
write run in a worker thread so the loop never waits on a disk or a database.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import select
import signal
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from recorder import capture
from recorder.config import RecorderSettings
from recorder.core import (
    Action,
    Call,
    CallEnded,
    CallStarted,
    CallUpdated,
    RecorderCore,
    Send,
    SmsReceived,
)
from recorder.media import SO_TIMESTAMPNS
from recorder.messages import SmsCheck, sms_problem
from recorder.rtpio import BatchReader, PacketReader
from recorder.sip import SipParseError, StreamFramer
from recorder.wav import WavWriter

log = logging.getLogger("recflow.recorder")
# Sockets are drained in batches: at 50 packets/s per stream a 0.5 s interval reads ~25
# datagrams per wake-up, so the one failing recvmsg (EAGAIN) that ends a drain is amortised.
# Kernel arrival timestamps keep placement exact however late the drain runs.
DRAIN_INTERVAL = 0.5
TICK_INTERVAL = 0.1
# Finished calls are captured in batches: the first one waits this long for others to end
# (its live files are crash-safe meanwhile), then all go in one database transaction.
CAPTURE_DELAY = 0.25
SmsCallback = Callable[..., Any]
"""``on_sms(from_number, to_number, text, received_at, call_id, from_name)``; runs in a thread."""


class PortPool:
    """Even RTP ports from a range, each bound with its RTCP neighbour (port + 1)."""

    def __init__(self, host: str, lo: int, hi: int, epoll: select.epoll) -> None:
        self.host = host
        self.epoll = epoll
        first = lo + (lo % 2)
        self.free = collections.deque(range(first, hi, 2))
        self.bound: dict[int, tuple[socket.socket, socket.socket]] = {}

    def _bind(self, port: int) -> socket.socket:
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.bind((self.host, port))
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        return s

    def allocate(self) -> int | None:
        for _ in range(len(self.free)):
            port = self.free.popleft()
            try:
                rtp = self._bind(port)
            except OSError:
                self.free.append(port)  # busy (another process); try it again later
                continue
            try:
                rtcp = self._bind(port + 1)
            except OSError:
                rtp.close()
                self.free.append(port)
                continue
            self.bound[port] = (rtp, rtcp)
            self.epoll.register(rtcp.fileno(), select.EPOLLIN)
            return port
        return None

    def release(self, port: int) -> None:
        socks = self.bound.pop(port, None)
        if socks is None:
            return
        for s in socks:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(s.fileno())
            s.close()
        self.free.append(port)

    def close(self) -> None:
        for port in list(self.bound):
            self.release(port)


class _SipUdp(asyncio.DatagramProtocol):
    def __init__(self, server: RecorderServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server.on_sip(data, addr, "udp", None)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors from peers that went away


class _SipTcp(asyncio.Protocol):
    """SIP over a stream: TCP, or TLS (the same protocol on an SSL transport)."""

    def __init__(self, server: RecorderServer, transport_name: str = "tcp") -> None:
        self.server = server
        self.name = transport_name
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except SipParseError as e:
            from recorder.core import best_effort_error

            resp = best_effort_error(bytes(self.framer._buf), 400, e.reason, self.peer)
            if resp and self.transport:
                self.transport.write(resp)
            if self.transport:
                self.transport.close()  # the stream position is lost
            return
        for m in messages:
            self.server.on_sip(m, self.peer, self.name, self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class RecorderServer:
    def __init__(
        self,
        settings: RecorderSettings,
        *,
        data_dir: Path,
        bind: str = "0.0.0.0",
        sip_port: int = 5060,
        rtp_ports: tuple[int, int] = (20000, 29999),
        sink: capture.CaptureSink,
        on_sms: SmsCallback | None = None,
        check_sms: SmsCheck | None = None,
        tcp: bool = True,
        tls: ssl.SSLContext | None = None,
        tls_port: int = 5061,
    ) -> None:
        self.settings = settings
        self.bind = bind
        self.sip_port = sip_port
        self.sink = sink
        self.on_sms = on_sms
        self.tcp = tcp
        self.tls = tls
        self.tls_port = tls_port
        self._tls_server: asyncio.AbstractServer | None = None
        self.live = capture.live_dir(data_dir)
        self.epoll = select.epoll()
        media_host = bind if bind not in ("0.0.0.0", "::") else ("::" if ":" in bind else "0.0.0.0")
        self.ports = PortPool(media_host, rtp_ports[0], rtp_ports[1], self.epoll)
        self.core = RecorderCore(
            settings,
            allocate_port=self._allocate,
            release_port=self._release,
            sip_port=sip_port,
            check_sms=check_sms or sms_problem,
        )
        self.stats = self.core.stats  # recorder.stats: what `--metrics-port` exports
        self.writers: dict[str, WavWriter] = {}
        # fd -> where its datagrams go: a stream's ``inbox.append``, or None (RTCP: discarded)
        self.readers: dict[int, Callable[[Any], None] | None] = {}
        self._socks: dict[int, socket.socket] = {}
        self.rx: BatchReader | PacketReader = (
            BatchReader() if BatchReader.available else PacketReader(self._socks)
        )
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture")
        self.pending: set[asyncio.Future[Any]] = set()
        self.captured: list[str] = []
        self._host_cache: dict[str, str] = {}
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sip_udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.AbstractServer | None = None
        self._handles: list[asyncio.TimerHandle] = []
        self._next_flush = 0.0
        self._captures: collections.deque[tuple[WavWriter, Any, dict[str, Any]]] = (
            collections.deque()
        )
        self._capture_due: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        recovered = await loop.run_in_executor(
            self.executor, capture.repair_live, self.sink, self.live
        )
        if recovered:
            log.warning("recovered %d recording(s) left by a previous crash", len(recovered))
            self.captured.extend(recovered)
        self._sip_udp, _ = await loop.create_datagram_endpoint(
            lambda: _SipUdp(self), local_addr=(self.bind, self.sip_port)
        )
        if self.sip_port == 0:
            self.sip_port = self.core.sip_port = self._sip_udp.get_extra_info("sockname")[1]
        if self.tcp:
            self._tcp_server = await loop.create_server(
                lambda: _SipTcp(self), self.bind, self.sip_port, reuse_address=True
            )
        if self.tls is not None:
            self._tls_server = await loop.create_server(
                lambda: _SipTcp(self, "tls"),
                self.bind,
                self.tls_port,
                ssl=self.tls,
                reuse_address=True,
                ssl_handshake_timeout=10,
            )
            if self.tls_port == 0:
                self.tls_port = self._tls_server.sockets[0].getsockname()[1]
            self.core.tls_port = self.tls_port
        self._schedule(DRAIN_INTERVAL, self._drain_tick)
        self._schedule(TICK_INTERVAL, self._timer_tick)

    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        assert self._loop is not None

        def run() -> None:
            if self._stopping:
                return
            try:
                fn()
            except Exception:
                log.exception("recorder timer failed")
            self._schedule(delay, fn)

        self._handles.append(self._loop.call_later(delay, run))
        if len(self._handles) > 16:
            self._handles = [h for h in self._handles if not h.cancelled()][-4:]

    async def stop(self) -> None:
        """Finish every live call (BYE, final flush, capture), then close everything."""
        now, wall = time.monotonic(), time.time()
        for cid in list(self.core.calls):
            self._perform(self.core.stop_call(cid, "shutdown", now=now, wall=wall))
        self._stopping = True
        self._capture_now()
        if self.pending:
            await asyncio.wait(list(self.pending), timeout=60)
        for h in self._handles:
            h.cancel()
        if self._sip_udp:
            self._sip_udp.close()
        if self._tcp_server:
            self._tcp_server.close()
        if self._tls_server:
            self._tls_server.close()
        self.ports.close()
        self.executor.shutdown(wait=True)

        self.epoll.close()

    # ---------------------------------------------------------------- SIP

    def local_host_for(self, peer: str) -> str:
        if self.bind not in ("0.0.0.0", "::"):
            return self.bind
        host = self._host_cache.get(peer)
        if host is None:
            # the kernel's route lookup tells which local address faces this peer
            fam = socket.AF_INET6 if ":" in peer else socket.AF_INET
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                try:
                    s.connect((peer, 9))
                    host = s.getsockname()[0]
                except OSError:
                    host = "127.0.0.1"
            if len(self._host_cache) < 10000:
                self._host_cache[peer] = host
        return host

    def on_sip(self, data: bytes, addr: Any, transport: str, conn: Any) -> None:
        source = (addr[0], addr[1])
        actions = self.core.receive(
            data,
            source,
            transport=transport,
            conn=conn,
            now=time.monotonic(),
            wall=time.time(),
            local_host=self.core.advertise or self.local_host_for(addr[0]),
        )
        self._perform(actions)

    def _allocate(self) -> int | None:
        port = self.ports.allocate()
        if port is not None:
            rtcp = self.ports.bound[port][1]
            self.readers[rtcp.fileno()] = None  # RTCP is read and dropped
            self._socks[rtcp.fileno()] = rtcp
        return port

    def _release(self, port: int) -> None:
        for s in self.ports.bound.get(port, ()):
            self.readers.pop(s.fileno(), None)
            self._socks.pop(s.fileno(), None)
        self.ports.release(port)

    def _perform(self, actions: list[Action]) -> None:
        touched: dict[str, Call] = {}
        for a in actions:
            if isinstance(a, Send):
                if a.transport in ("tcp", "tls"):
                    if a.conn is not None:
                        a.conn.write(a.data)
                elif self._sip_udp is not None:
                    self._sip_udp.sendto(a.data, a.addr)
            elif isinstance(a, CallStarted):
                self._call_started(a.call)
                touched[a.call.call_id] = a.call
            elif isinstance(a, CallUpdated):
                touched[a.call.call_id] = a.call
            elif isinstance(a, CallEnded):
                touched.pop(a.call.call_id, None)
                self._call_ended(a.call)
            elif isinstance(a, SmsReceived):
                self.stats.sms_received += 1
                self._submit(self._deliver_sms, a)
        for call in touched.values():
            self._write_sidecar(call)  # once per batch of actions, not once per action

    def _paths(self, call: Call) -> tuple[Path, Path]:
        base = self.live / call.recording_id
        return base.with_suffix(capture.LIVE_SUFFIX), base.with_suffix(".json")

    def _call_started(self, call: Call) -> None:
        if call.recording:  # a call the policy does not record never touches the disk
            audio, _ = self._paths(call)
            self.writers[call.call_id] = WavWriter(audio)
        for st in call.answered_streams:
            rtp, _rtcp = self.ports.bound[st.port]
            inbox = call.stream_by_index[st.index].inbox
            self.readers[rtp.fileno()] = inbox.append
            self._socks[rtp.fileno()] = rtp
            self.epoll.register(rtp.fileno(), select.EPOLLIN)

    def _writer(self, call: Call) -> WavWriter | None:
        """The call's audio file; an on-demand call gets one once recording is started."""
        writer = self.writers.get(call.call_id)
        if writer is None and call.recording and call.state != "ended":
            writer = self.writers[call.call_id] = WavWriter(self._paths(call)[0])
        return writer

    @staticmethod
    def _kept(call: Call, pcm: Any, writer: WavWriter) -> Any:
        """Drop what precedes an on-demand start (``pcm`` ends at the committed position).
        The code's own RTP timestamp places the start; one earlier than audio still held (a
        sender whose event timestamps are off) starts at the oldest audio still held."""
        if call.record_from is not None and not writer.frames:
            start = call.media.committed - len(pcm)
            call.record_from = max(call.record_from, start)
            call.policy["started_at_seconds"] = round(call.record_from / 8000, 3)
            pcm = pcm[min(len(pcm), call.record_from - start) :]
        if call.record_limit:  # the policy's time limit: the call goes on, the file stops
            room = max(0, call.record_limit - writer.frames)
            if len(pcm) > room:
                pcm = pcm[:room]
                call.policy["time_limit_reached"] = True
        return pcm

    def _write_sidecar(self, call: Call) -> None:
        if not call.recording:
            return
        _, side = self._paths(call)
        try:
            capture.write_sidecar(side, call.describe())
        except OSError:
            log.exception("cannot write %s", side)

    def _call_ended(self, call: Call) -> None:
        for st in call.answered_streams:
            socks = self.ports.bound.get(st.port)
            fd = socks[0].fileno() if socks else -1
            if fd in self.readers:  # what is already in the socket buffer belongs to this call
                self.rx.drain(fd, self.readers[fd])
            self._release(st.port)
        pcm = call.media.finish(time.monotonic(), time.time())
        for stream in call.media.streams:
            self.stats.stream_ended(stream.summary())
        writer = self.writers.pop(call.call_id, None)
        if writer is None:
            if call.policy and call.answered_at is not None:
                # not recorded by policy: the decision is still listed (metadata, no audio)
                self._submit(self._capture_unrecorded, call.describe())
            return
        pcm = self._kept(call, pcm, writer)
        if call.answered_at is None and not any(s.stats.packets for s in call.media.streams):
            self._submit(self._discard, writer)  # cancelled before answer, nothing heard
            return
        self._captures.append((writer, pcm, call.describe()))
        if self._capture_due is None and self._loop is not None:
            if self._stopping:
                self._capture_now()
            else:
                self._capture_due = self._loop.call_later(CAPTURE_DELAY, self._capture_now)

    def _capture_now(self) -> None:
        if self._capture_due is not None:
            self._capture_due.cancel()
            self._capture_due = None
        if self._captures:
            self._submit(self._finalise_batch)

    # ---------------------------------------------------------------- worker-thread jobs

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self._loop is not None
        fut = self._loop.run_in_executor(self.executor, fn, *args)
        self.pending.add(fut)
        fut.add_done_callback(self.pending.discard)

    def _finalise_batch(self) -> None:
        """Worker thread: close every queued recording, then capture them together."""
        batch = []
        while self._captures:
            writer, pcm, description = self._captures.popleft()
            try:
                writer.write(pcm)
                writer.close()
            except Exception:
                log.exception("closing %s failed", writer.path)  # repaired at next start
                continue
            batch.append((writer, description))
        many = getattr(self.sink, "capture_many", None)
        if many is None or len(batch) < 2:
            for writer, description in batch:
                self._capture_one(writer, description)
            return
        try:
            ids = many([(d, w.path, w.frames) for w, d in batch])
        except Exception:
            log.exception("batch capture failed; the live files stay for the next start-up")
            return
        for writer, _ in batch:
            writer.path.unlink(missing_ok=True)
            writer.path.with_suffix(".json").unlink(missing_ok=True)
        self.captured.extend(ids)
        self.stats.calls_recorded += len(ids)

    def _capture_one(self, writer: WavWriter, description: dict[str, Any]) -> None:
        try:
            rid = capture.finish_live(self.sink, description, writer.path, writer.frames)
            self.captured.append(rid)
            self.stats.calls_recorded += 1
        except Exception:
            # the live files stay; the next start-up captures them
            log.exception("capture of %s failed", description.get("call_id"))

    def _capture_unrecorded(self, description: dict[str, Any]) -> None:
        record = getattr(self.sink, "capture_unrecorded", None)
        if record is None:
            return
        try:
            self.captured.append(record(description))
            self.stats.calls_not_recorded += 1
        except Exception:
            log.exception("listing unrecorded call %s failed", description.get("call_id"))

    def _discard(self, writer: WavWriter) -> None:
        writer.close()
        writer.path.unlink(missing_ok=True)
        writer.path.with_suffix(".json").unlink(missing_ok=True)

    def _deliver_sms(self, sms: SmsReceived) -> None:
        if self.on_sms is None:
            log.warning("SMS from %s dropped: no SMS store configured", sms.from_number)
            return
        try:
            self.on_sms(
                from_number=sms.from_number,
                to_number=sms.to_number,
                text=sms.text,
                received_at=sms.received_at,
                call_id=sms.call_id,
                from_name=sms.from_name,
            )
        except Exception:
            log.exception("storing SMS %s failed", sms.call_id)

    # ---------------------------------------------------------------- timers

    def _drain(self) -> None:
        readers = self.readers
        drain = self.rx.drain
        for fd, _ev in self.epoll.poll(0, len(readers) + 1):
            if fd in readers:
                drain(fd, readers[fd])

    def _drain_tick(self) -> None:
        self._drain()
        now = time.monotonic()
        if now >= self._next_flush:
            self._next_flush = now + self.settings.flush_interval_seconds
            self._flush_all(now, time.time())

    def _flush_all(self, now: float, wall: float) -> None:
        for call in list(self.core.calls.values()):
            pcm, digits = call.media.flush(now, wall)
            if digits:  # before writing: an on-demand code may start the recording
                self._perform(self.core.on_digits(call, now))
            writer = self._writer(call)
            if writer is not None and len(pcm):
                writer.write(self._kept(call, pcm, writer))

    def _timer_tick(self) -> None:
        self._perform(self.core.tick(time.monotonic(), time.time()))

    # ---------------------------------------------------------------- API

    def record_control(self, call_id: str, action: str) -> str:
        """Start/stop an on-demand call's recording (loop thread); returns the outcome."""
        outcome, actions = self.core.set_recording(call_id, action == "start", now=time.monotonic())
        self._perform(actions)
        return outcome

    def record_control_threadsafe(self, call_id: str, action: str, timeout: float = 10) -> str:
        """The same from another thread (the policy refresher): runs on the loop, waits."""
        import concurrent.futures

        assert self._loop is not None
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(self.record_control(call_id, action))
            except Exception as e:  # handed to the waiting thread
                fut.set_exception(e)

        self._loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    def pause(self, call_id: str, paused: bool = True) -> bool:
        if call_id not in self.core.calls:
            return False
        self._perform(self.core.set_paused(call_id, paused, "api", now=time.monotonic()))
        return True


async def serve_forever(server: RecorderServer, ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT, then finish live calls and return."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    # Start-up objects (ORM, pydantic, modules) never die: keep them out of every collection,
    # and collect rarely -- the hot path allocates only acyclic tuples and bytes.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    if ready:
        ready()
    await stop.wait()
    await server.stop()
