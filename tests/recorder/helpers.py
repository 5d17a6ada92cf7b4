"""Test peers for the recorder: a running `recflow recorder`, a tiny SIP UAC and an RTP sender
whose packets we control (loss, reordering, duplicates, SSRC changes). 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RECFLOW = ROOT / ".venv" / "bin" / "recflow"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_sip_port() -> int:
    """A port free for both UDP and TCP (SIP listens on both)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free SIP port")


def free_rtp_range(n: int = 200) -> tuple[int, int]:
    # a random slice below the ephemeral range (so it never holds a SIP port picked by the
    # kernel); collisions between tests are tolerated: the pool skips busy ports
    base = 20000 + (os.getpid() * 7919 + int(time.time() * 1000)) % 12000
    base -= base % 2
    return base, base + n


class Recorder:
    """`recflow recorder` in a subprocess with its own data dir."""

    def __init__(self, data: Path, *extra: str, netns_cmd: list[str] | None = None) -> None:
        self.data = data
        self.sip = free_sip_port()
        self.rtp = free_rtp_range()
        self.extra = extra
        self.log = data / "recorder.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Recorder:
        self.data.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(RECFLOW),
            "recorder",
            "--sip-port",
            str(self.sip),
            "--rtp-ports",
            f"{self.rtp[0]}-{self.rtp[1]}",
            "--bind",
            "127.0.0.1",
            "--data-dir",
            str(self.data),
            *self.extra,
        ]
        env = {**os.environ, "RECFLOW_DATA_DIR": str(self.data)}
        env.pop("RECFLOW_DATABASE_URL", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"recorder exited: {self.log.read_text()[-2000:]}")
            if "listening" in self.log.read_text():
                return self
            time.sleep(0.1)
        raise RuntimeError("recorder did not start")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def rows(self) -> list[dict[str, Any]]:
        db = self.data / "catalog.sqlite3"
        if not db.exists():
            return []
        con = sqlite3.connect(db, timeout=30)
        con.row_factory = sqlite3.Row
        try:
            out = []
            for r in con.execute("select * from recordings order by started_at"):
                d = dict(r)
                for k in ("metadata", "participants", "pauses"):
                    d[k] = json.loads(d[k]) if d[k] else d[k]
                out.append(d)
            return out
        finally:
            con.close()

    def wait_rows(self, n: int, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = self.rows()
            if len(rows) >= n:
                return rows
            time.sleep(0.2)
        raise AssertionError(
            f"expected {n} recordings, have {len(self.rows())}; log: {self.log.read_text()[-1500:]}"
        )

    def audio(self, row: dict[str, Any]) -> np.ndarray:
        import wave

        with wave.open(str(self.data / "recordings" / row["file_key"])) as w:
            assert w.getframerate() == 8000 and w.getsampwidth() == 2
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
            return pcm.reshape(-1, w.getnchannels())


# ---------------------------------------------------------------- SIP UAC


class Uac:
    """A minimal SIP user agent client over UDP or TCP, for scripted calls."""

    def __init__(self, server: tuple[str, int], transport: str = "udp") -> None:
        self.server = server
        self.transport = transport
        if transport == "tcp":
            self.sock = socket.create_connection(server, timeout=5)
            self.buf = b""
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        if self.transport == "tcp":
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, self.server)

    def recv(self, timeout: float = 5) -> bytes:
        self.sock.settimeout(timeout)
        if self.transport == "udp":
            return self.sock.recvfrom(65535)[0]
        while True:
            m = re.search(rb"\r\n\r\n", self.buf)
            if m:
                head = self.buf[: m.end()]
                cl = re.search(rb"(?i)content-length:\s*(\d+)", head)
                n = m.end() + (int(cl.group(1)) if cl else 0)
                if len(self.buf) >= n:
                    msg, self.buf = self.buf[:n], self.buf[n:]
                    return msg
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def response(self, status_min: int = 200, timeout: float = 5) -> bytes:
        """The next response with a status >= status_min (skips 100/180)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = self.recv(max(0.1, deadline - time.time()))
            if msg.startswith(b"SIP/2.0 ") and int(msg[8:11]) >= status_min:
                return msg
        raise TimeoutError("no final response")


def header(msg: bytes, name: str) -> str:
    m = re.search(rb"(?im)^" + name.encode() + rb"\s*:\s*(.*?)\r?$", msg)
    return m.group(1).decode() if m else ""


def sdp_media_ports(msg: bytes) -> list[int]:
    return [int(p) for p in re.findall(rb"(?m)^m=audio (\d+) ", msg)]


def sdp_offer(
    port: int,
    *,
    direction: str = "sendonly",
    labels: list[str] | None = None,
    ports: list[int] | None = None,
    host: str = "127.0.0.1",
) -> str:
    lines = ["v=0", f"o=test 1 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0"]
    for i, p in enumerate(ports or [port]):
        lines += [
            f"m=audio {p} RTP/AVP 0 8 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15",
            f"a={direction}",
        ]
        if labels:
            lines.append(f"a=label:{labels[i]}")
    return "\r\n".join(lines) + "\r\n"


class Dialog:
    """One call placed by a :class:`Uac`."""

    def __init__(
        self,
        uac: Uac,
        *,
        from_user: str = "+447700900123",
        to_user: str = "1000",
        from_name: str = "Test Caller",
        call_id: str | None = None,
    ) -> None:
        self.uac = uac
        self.call_id = call_id or f"{uuid.uuid4().hex}@test"
        self.from_tag = uuid.uuid4().hex[:8]
        self.from_user, self.to_user, self.from_name = from_user, to_user, from_name
        self.to_tag = ""
        self.cseq = 0
        self.branch = ""
        self.answer = b""

    def _req(
        self,
        method: str,
        body: str = "",
        ctype: str = "application/sdp",
        branch: str | None = None,
        cseq: int | None = None,
        extra: str = "",
    ) -> bytes:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        self.branch = branch or f"z9hG4bK{uuid.uuid4().hex[:12]}"
        proto = "TCP" if self.uac.transport == "tcp" else "UDP"
        to = f"<sip:{self.to_user}@127.0.0.1>" + (f";tag={self.to_tag}" if self.to_tag else "")
        msg = (
            f"{method} sip:{self.to_user}@127.0.0.1:{self.uac.server[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/{proto} 127.0.0.1:{self.uac.port};branch={self.branch};rport\r\n"
            f'From: "{self.from_name}" <sip:{self.from_user}@127.0.0.1>;tag={self.from_tag}\r\n'
            f"To: {to}\r\nCall-ID: {self.call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{self.from_user}@127.0.0.1:{self.uac.port}>\r\nMax-Forwards: 70\r\n"
            f"{extra}"
        )
        b = body.encode()
        if b:
            msg += f"Content-Type: {ctype}\r\n"
        msg += f"Content-Length: {len(b)}\r\n\r\n"
        return msg.encode() + b

    def invite(
        self, sdp: str, ctype: str = "application/sdp", expect: int = 200, extra: str = ""
    ) -> bytes:
        self.uac.send(self._req("INVITE", sdp, ctype, extra=extra))
        resp = self.uac.response()
        assert int(resp[8:11]) == expect, resp.decode(errors="replace")
        if expect == 200:
            m = re.search(r"tag=([^;>\s]+)", header(resp, "To"))
            self.to_tag = m.group(1) if m else ""
            self.answer = resp
            self.ack()
        return resp

    def ack(self) -> None:
        self.uac.send(self._req("ACK", cseq=self.cseq))

    def reinvite(self, sdp: str) -> bytes:
        self.uac.send(self._req("INVITE", sdp))
        resp = self.uac.response()
        self.ack()
        return resp

    def bye(self) -> bytes:
        self.uac.send(self._req("BYE"))
        return self.uac.response()


# ---------------------------------------------------------------- RTP


def rtp_packet(
    seq: int, ts: int, ssrc: int, payload: bytes, pt: int = 0, marker: bool = False
) -> bytes:
    return (
        struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
        )
        + payload
    )


def ulaw_encode(pcm: np.ndarray) -> bytes:
    x = np.clip(pcm.astype(np.int32), -32635, 32635)
    sign = (x < 0).astype(np.int32) << 7
    x = np.abs(x) + 0x84
    exp = np.clip(np.floor(np.log2(x)).astype(np.int32) - 7, 0, 7)
    man = (x >> (exp + 3)) & 0x0F
    return (~(sign | (exp << 4) | man) & 0xFF).astype(np.uint8).tobytes()


def tone(seconds: float, freq: float, seed: int = 0) -> bytes:
    """µ-law bytes of a tone with a little noise (so every packet differs)."""
    n = int(seconds * 8000)
    t = np.arange(n) / 8000
    rng = np.random.default_rng(seed)
    pcm = 8000 * np.sin(2 * np.pi * freq * t) + rng.normal(0, 300, n)
    return ulaw_encode(pcm)


def send_stream(
    dest: tuple[str, int],
    audio: bytes,
    *,
    ssrc: int = 0x1234,
    seq0: int = 100,
    ts0: int = 5000,
    order: list[int] | None = None,
    pacing: float = 0.02,
    sock: socket.socket | None = None,
) -> None:
    """Send ``audio`` as 20 ms PCMU packets, in ``order`` (indices; may drop/repeat/reorder)."""
    chunks = [audio[i : i + 160] for i in range(0, len(audio), 160)]
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for k, i in enumerate(order if order is not None else range(len(chunks))):
        s.sendto(rtp_packet(seq0 + i, ts0 + 160 * i, ssrc, chunks[i]), dest)
        delay = start + (k + 1) * pacing - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    if sock is None:
        s.close()


def python() -> str:
    return sys.executable
