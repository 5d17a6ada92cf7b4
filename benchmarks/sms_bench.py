# ruff: noqa: SIM105  (a benchmark script; its try/except blocks stay as written)
"""SMS burst: ingest/s through the REST API and through SIP MESSAGE, emails/s to a local SMTP
server; nothing lost, nothing duplicated.

    .venv/bin/python benchmarks/sms_bench.py [--count 10000] [--concurrency 32]

Peers, all on 127.0.0.1 and all real: uvicorn serving the SMS router, `recflow recorder` (the
SIP server, its own process) with the catalog as its SMS store, an aiosmtpd server in its own
process. The SIP client behaves like a UAC: a window of outstanding MESSAGEs, retransmitted
(same Call-ID) when no 200 arrives within 0.5 s, so lost datagrams cost time, not messages;
the catalog must then hold exactly ``count`` rows. Email sending uses the sms-to-email core
(`services.sms.send_sms_email`: delivery log + the `email` connector), without Prefect runs, so the
figure is the sending path's own ceiling. Every phase is bounded by count and by time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

PHASE_LIMIT_S = 600


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_catalog(data: Path):  # type: ignore[no-untyped-def]
    from catalog.db import Database
    from catalog.repository import Catalog
    from catalog.settings import RecflowSettings
    from catalog.store import LocalStore

    settings = RecflowSettings(data_dir=data)
    return Catalog(Database(settings.resolved_database_url), LocalStore(data / "rec"), settings)


def count_rows(catalog, source: str | None = None) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(rows, distinct dedup keys) — equal when nothing was stored twice."""
    from sqlalchemy import func, select

    from catalog.sms_tables import SmsRow

    q = select(func.count(), func.count(func.distinct(SmsRow.dedup_key)))
    if source:
        q = q.where(SmsRow.source == source)
    with catalog.db.session() as s:
        n, d = s.execute(q.select_from(SmsRow)).one()
        return int(n), int(d)


# ---------------------------------------------------------------------------- API


async def bench_api(catalog, count: int, concurrency: int) -> dict:  # type: ignore[no-untyped-def]
    import httpx
    import uvicorn
    from fastapi import FastAPI

    from portal.api_sms import make_router

    app = FastAPI()
    app.include_router(make_router(None, catalog=lambda: catalog), prefix="/api/v1")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        await asyncio.sleep(0.05)
    t_base = datetime.now(UTC) - timedelta(hours=1)
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = {
                "subscriber": "+441632960559",
                "from": f"+4477009{i % 100000:05d}",
                "to": "+441632960559",
                "timestamp": (t_base + timedelta(microseconds=i)).isoformat(),
                "text": f'API burst #{i}: café ☕, «quotes», "and" commas',
            }
            r = await client.post(f"http://127.0.0.1:{port}/api/v1/sms", json=body)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as c:
        await asyncio.wait_for(
            asyncio.gather(*(client_loop(c) for _ in range(concurrency))), PHASE_LIMIT_S
        )
    dt = time.perf_counter() - t0
    server.should_exit = True
    thread.join(10)
    rows, distinct = count_rows(catalog, "api")
    return {"sent": count, "seconds": dt, "rows": rows, "distinct": distinct, "http": statuses}


# ---------------------------------------------------------------------------- SIP


def sip_request(sip_port: int, local_port: int, i: int, call_id: str) -> bytes:
    text = f"SIP burst #{i}: Grüße 🙂 مرحبا".encode()
    return (
        f"MESSAGE sip:+441632960559@127.0.0.1:{sip_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{call_id[:16]};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:+4477008{i % 100000:05d}@127.0.0.1>;tag=t{i}\r\n"
        "To: <sip:+441632960559@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\n"
        f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(text)}\r\n\r\n"
    ).encode() + text


def bench_sip(data: Path, catalog, count: int, window: int) -> dict:  # type: ignore[no-untyped-def]
    sip_port = free_port(socket.SOCK_DGRAM)
    rtp_lo = 42000 + (os.getpid() % 50) * 20
    env = {**os.environ, "RECFLOW_DATA_DIR": str(data)}
    log = open(data / "recorder.log", "w")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/recflow"), "recorder", "--sip-port", str(sip_port),
         "--rtp-ports", f"{rtp_lo}-{rtp_lo + 19}", "--bind", "127.0.0.1", "--no-tcp",
         "--data-dir", str(data)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        u.setblocking(False)
        local = u.getsockname()[1]
        # wait for the recorder: OPTIONS until it answers
        deadline = time.monotonic() + 60
        probe = (
            f"OPTIONS sip:127.0.0.1:{sip_port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};"
            f"branch=z9hG4bKprobe;rport\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:r@127.0.0.1>\r\n"
            "Call-ID: probe@bench\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        up = False
        while time.monotonic() < deadline and not up:
            u.sendto(probe, ("127.0.0.1", sip_port))
            time.sleep(0.3)
            try:
                up = u.recv(65535).startswith(b"SIP/2.0 200")
            except BlockingIOError:
                pass
        if not up:
            raise RuntimeError(
                f"recorder did not answer: {(data / 'recorder.log').read_text()[-800:]}"
            )
        ids = [f"{uuid.uuid4().hex}@bench" for _ in range(count)]
        outstanding: dict[str, tuple[int, float]] = {}
        answered: set[str] = set()
        nxt = retransmits = 0
        t0 = time.perf_counter()
        limit = time.monotonic() + PHASE_LIMIT_S
        while len(answered) < count and time.monotonic() < limit:
            now = time.perf_counter()
            while nxt < count and len(outstanding) < window:
                u.sendto(sip_request(sip_port, local, nxt, ids[nxt]), ("127.0.0.1", sip_port))
                outstanding[ids[nxt]] = (nxt, now)
                nxt += 1
            for cid, (i, sent) in list(outstanding.items()):
                if now - sent > 0.5:  # Timer A-ish: retransmit, same Call-ID
                    u.sendto(sip_request(sip_port, local, i, cid), ("127.0.0.1", sip_port))
                    outstanding[cid] = (i, now)
                    retransmits += 1
            got = False
            while True:
                try:
                    pkt = u.recv(65535)
                except BlockingIOError:
                    break
                got = True
                if pkt.startswith(b"SIP/2.0 200"):
                    for line in pkt.split(b"\r\n"):
                        if line.lower().startswith(b"call-id:"):
                            cid = line.split(b":", 1)[1].strip().decode()
                            if outstanding.pop(cid, None) is not None:
                                answered.add(cid)
            if not got:
                time.sleep(0.0005)
        t_answered = time.perf_counter() - t0
        # 200 OK goes out before the store; wait for the catalog to hold them all
        while count_rows(catalog, "sip")[0] < count and time.monotonic() < limit:
            time.sleep(0.1)
        dt = time.perf_counter() - t0
        rows, distinct = count_rows(catalog, "sip")
        return {"sent": count, "seconds": dt, "answered_s": t_answered, "rows": rows,
                "distinct": distinct, "retransmits": retransmits}  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------- email

SMTP_SINK = textwrap.dedent(
    """
    import sys, time
    from aiosmtpd.controller import Controller
    out = open(sys.argv[2], "a", buffering=1)
    class H:
        async def handle_DATA(self, server, session, envelope):
            for line in envelope.content.split(b"\\r\\n"):
                if line.lower().startswith(b"message-id:"):
                    out.write(line.split(b":", 1)[1].strip().decode() + "\\n")
                    break
            return "250 OK"
    c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1])); c.start()
    print("ready", flush=True)
    while True: time.sleep(3600)
    """
)


async def bench_email(catalog, data: Path, count: int, concurrency: int) -> dict:  # type: ignore[no-untyped-def]
    from catalog.sms import SmsEmailSettings, SmsSettings, iter_sms, save_sms_settings
    from connectors.email import EmailConfig, EmailConnector
    from services.sms import send_sms_email

    port = free_port()
    ids_file = data / "smtp-message-ids.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", SMTP_SINK, str(port), str(ids_file)],
        stdout=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        settings = SmsSettings(
            to_email=SmsEmailSettings(enabled=True, to=["archive@bench.example"], connector="mail")
        )
        save_sms_settings(catalog, settings)
        connector = EmailConnector(
            EmailConfig(
                host="127.0.0.1", port=port, from_address="rec@bench.example", starttls=False
            )
        )
        messages = list(iter_sms(catalog, limit=count))
        sem = asyncio.Semaphore(concurrency)
        failures = 0

        async def one(sms) -> None:  # type: ignore[no-untyped-def]
            nonlocal failures
            async with sem:
                try:
                    await send_sms_email(catalog, sms, settings, connector=connector)
                except Exception:
                    failures += 1

        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(m) for m in messages)), PHASE_LIMIT_S)
        dt = time.perf_counter() - t0
        # a second pass must send nothing: the delivery log says every one went
        t1 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(m) for m in messages)), PHASE_LIMIT_S)
        dt2 = time.perf_counter() - t1
        time.sleep(0.5)
        lines = ids_file.read_text().split() if ids_file.exists() else []
        return {"sent": len(messages), "seconds": dt, "received": len(lines),
                "distinct": len(set(lines)), "failures": failures, "rerun_s": dt2}  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


# ---------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10_000, help="SMS per path (API and SIP)")
    ap.add_argument("--concurrency", type=int, default=32, help="API clients / parallel sends")
    ap.add_argument("--window", type=int, default=64, help="SIP MESSAGEs outstanding")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="sms-bench-"))
    catalog = open_catalog(data)
    print(f"data dir {data}; {args.count} SMS per path; {os.cpu_count()} CPUs", flush=True)
    api = asyncio.run(bench_api(catalog, args.count, args.concurrency))
    print("api:", json.dumps(api), flush=True)
    sip = bench_sip(data, catalog, args.count, args.window)
    print("sip:", json.dumps(sip), flush=True)
    mail = asyncio.run(bench_email(catalog, data, args.count, args.concurrency))
    print("email:", json.dumps(mail), flush=True)

    def row(path: str, n: int, secs: float, stored: int, distinct: int, note: str) -> str:
        ok = "yes" if stored == n and distinct == n else "NO"
        return f"| {path:<22} | {n:>6} | {secs:>7.1f} | {n / secs:>8.0f} | {stored:>6} | {ok:^14} | {note} |"

    print()
    print(
        "| path                   |    SMS | seconds |  per sec | stored | exact (no loss/dup) | note |"
    )
    print(
        "| ---------------------- | -----: | ------: | -------: | -----: | :-----------------: | ---- |"
    )
    print(row("ingest via REST API", api["sent"], api["seconds"], api["rows"], api["distinct"],
              f"HTTP {api['http']}, {args.concurrency} clients"))  # fmt: skip
    print(row("ingest via SIP MESSAGE", sip["sent"], sip["seconds"], sip["rows"], sip["distinct"],
              f"200 OK for all in {sip['answered_s']:.1f}s, {sip['retransmits']} retransmits"))  # fmt: skip
    print(row("emails to SMTP", mail["sent"], mail["seconds"], mail["received"], mail["distinct"],
              f"{mail['failures']} failures; re-run sent 0 in {mail['rerun_s']:.1f}s"))  # fmt: skip


if __name__ == "__main__":
    main()
