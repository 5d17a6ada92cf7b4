"""Run inside a loopback-only network namespace (see test_hostile.py): start the recorder,
throw malformed and odd-but-valid messages at it over UDP and TCP, print what came back."""

from __future__ import annotations

import json
import re
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.recorder.helpers import Recorder

BASE = (
    "{method} sip:1000@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK{n};rport\r\n"
    "From: <sip:a@203.0.113.9>;tag=x{n}\r\nTo: <sip:1000@127.0.0.1>\r\n"
    "Call-ID: hostile-{n}@203.0.113.9\r\nCSeq: 1 {method}\r\n"
    "Contact: <sip:a@198.51.100.7:5060>\r\n{extra}Content-Length: {cl}\r\n\r\n{body}"
)


def msg(
    n: int,
    method: str = "OPTIONS",
    extra: str = "",
    body: str = "",
    cl: str | None = None,
) -> bytes:
    return BASE.format(
        method=method, n=n, extra=extra, body=body, cl=len(body.encode()) if cl is None else cl
    ).encode()


CASES: dict[str, bytes] = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
    "no_call_id": msg(1).replace(b"Call-ID: hostile-1@203.0.113.9\r\n", b""),
    "bad_content_length": msg(2, cl="abc"),
    "content_length_too_big": msg(3, cl="999"),
    "huge_header": msg(4, extra="X-Big: " + "A" * 20000 + "\r\n"),
    "too_many_headers": msg(5, extra="".join(f"X-H{i}: v\r\n" for i in range(400))),
    "folded_odd_ws": msg(6, extra="Subject :  hi\r\n\tthere\r\nX-Tab:\tv\r\n"),
    "unknown_method": msg(7, method="FROBNICATE"),
    "unknown_uri_scheme": msg(8).replace(b"OPTIONS sip:1000@127.0.0.1", b"OPTIONS urn:x:y"),
    "escapes": msg(9, extra='X-Q: "a\\"b" <sip:%41@h>\r\n'),
    "binary_body": msg(
        10,
        method="MESSAGE",
        extra="Content-Type: application/octet-stream\r\n",
        body="\x00\x01\xff",
    ),
    "invite_sdp_elsewhere": msg(
        11,
        method="INVITE",
        extra="Content-Type: application/sdp\r\n",
        body="v=0\r\no=x 1 1 IN IP4 198.51.100.7\r\ns=-\r\n"
        "c=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n",
    ),
    "invite_bad_sdp": msg(
        12, method="INVITE", extra="Content-Type: application/sdp\r\n", body="this is not sdp"
    ),
    "ack_garbage": b"ACK\r\n\r\n",
    "response": b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\n",
}


def main() -> None:
    data = Path(tempfile.mkdtemp()) / "data"
    rec = Recorder(data, "--rtp-timeout", "8").start()
    out: dict[str, object] = {}
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(1.0)
        for name, data_ in CASES.items():
            s.sendto(data_, ("127.0.0.1", rec.sip))
            got = []
            try:
                while True:
                    raw = s.recvfrom(65535)[0]
                    got.append(raw.split(b"\r\n", 1)[0].decode())
                    if name == "invite_sdp_elsewhere" and raw.startswith(b"SIP/2.0 200"):
                        tag = re.search(rb"(?m)^To:.*;tag=([^;\r]+)", raw).group(1).decode()
                        ack = (
                            msg(11, method="ACK")
                            .replace(
                                b"To: <sip:1000@127.0.0.1>",
                                f"To: <sip:1000@127.0.0.1>;tag={tag}".encode(),
                            )
                            .replace(b"CSeq: 1 ACK", b"CSeq: 1 ACK")
                        )
                        s.sendto(ack, ("127.0.0.1", rec.sip))
                    s.settimeout(0.3)
            except TimeoutError:
                pass
            s.settimeout(1.0)
            out[name] = got
        # TCP: a framing error gets a 400 and the connection closes; a good one is answered
        for name, payload in (
            ("tcp_no_length", msg(20).replace(b"Content-Length: 0\r\n", b"")),
            ("tcp_ok", msg(21)),
        ):
            c = socket.create_connection(("127.0.0.1", rec.sip), timeout=2)
            c.sendall(payload)
            try:
                out[name] = c.recv(65535).split(b"\r\n", 1)[0].decode()
            except TimeoutError:
                out[name] = "timeout"
            c.close()
        s.sendto(msg(30), ("127.0.0.1", rec.sip))
        out["still_serving"] = s.recvfrom(65535)[0].split(b"\r\n", 1)[0].decode()
        # the INVITE whose SDP and Contact pointed elsewhere sends no RTP: after --rtp-timeout
        # the recorder hangs up, and its BYE comes to us, the source, not to 198.51.100.7
        s.settimeout(15)
        try:
            out["bye"] = s.recvfrom(65535)[0].split(b"\r\n", 1)[0].decode()
        except TimeoutError:
            out["bye"] = "timeout"
        out["alive"] = rec.proc is not None and rec.proc.poll() is None
    finally:
        out["exit"] = rec.stop()
        out["log_errors"] = [ln for ln in rec.log.read_text().splitlines() if "Traceback" in ln]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
