"""Hosted SFTP: listing a day of N calls, WAV download throughput, MP3 conversion speed, and the
server's memory while C clients download at once.

    .venv/bin/python benchmarks/sftp_bench.py [--calls 10000] [--minutes 10] [--clients 20]

1. A fresh SQLite catalog gets ``--calls`` recordings that ended on one day (rows only, all
   pointing at one stored ``--minutes``-long stereo 8 kHz WAV) and ``recflow sftp`` is started
   as its own process on a free loopback port.
2. Listing: ``readdir`` of that day's folder through asyncssh's client (best of 3; the first,
   cold, run is shown too).
3. WAV_16_8000_S: one client downloads the call (the stored bytes, no conversion): MB/s.
4. MP3 and WAV_8_8000_M: the first download converts (cold cache), the second is served from
   the cache: seconds of audio per second of wall time ("x real time"), one conversion = one core.
5. Memory: the server's RSS (from /proc) before and its peak (VmHWM) after ``--clients`` clients
   download different calls' MP3 (each a fresh conversion) and WAVs at once.
Prints one table. Not a test: numbers depend on the machine (2 shared cores here: noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncssh
import numpy as np
from sqlalchemy import insert

from catalog.models import Recording
from catalog.repository import Catalog, _row_values
from catalog.settings import RecflowSettings
from catalog.tables import RecordingRow
from services.sftp_settings import SftpServerSettings, generate_credentials, save_settings

BASE = "MobileVoiceRecorder/MobileVoiceRecorder_Live/CallRecordings"
DAY = datetime(2025, 6, 5, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_wav(path: Path, seconds: float) -> Path:
    import wave

    rng = np.random.default_rng(1)
    x = (rng.standard_normal((int(8000 * seconds), 2)) * 2000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(x.tobytes())
    return path


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (the server), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--formats", default="MP3,WAV_16_8000_S", help="What each client downloads")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="access-sftp-bench-"))
    data = tmp / "data"
    settings = RecflowSettings(data_dir=data, secret_key="bench-secret")
    catalog = Catalog.open(settings)
    wav = write_wav(tmp / "call.wav", args.minutes * 60)
    seconds = args.minutes * 60
    # one stored file per downloader (so each MP3 is a fresh conversion), rows for the rest
    stored = []
    for i in range(args.clients):
        rec = Recording(
            from_number=f"+4411100{i:05d}",
            to_number="+441230000321",
            started_at=DAY + timedelta(hours=1, seconds=i),
            ended_at=DAY + timedelta(hours=1, seconds=i + seconds),
            duration_seconds=seconds,
        )
        stored.append(catalog.add_recording(rec, audio=wav))
    t0 = time.perf_counter()
    rows = []
    for i in range(args.calls - args.clients):
        end = DAY + timedelta(seconds=int(i * 86000 / max(1, args.calls)))
        rec = Recording(
            id=str(uuid.uuid4()),
            from_number=f"+44770{i:06d}",
            to_number="+441632960555",
            started_at=end - timedelta(seconds=seconds),
            ended_at=end,
            duration_seconds=seconds,
            file_key=stored[0].file_key,
            file_size=stored[0].file_size,
        )
        rows.append(_row_values(rec))
    with catalog.db.session() as s:
        for k in range(0, len(rows), 2000):
            s.execute(insert(RecordingRow), rows[k : k + 2000])
    fill = time.perf_counter() - t0
    port = free_port()
    save_settings(catalog, SftpServerSettings(enabled=True, port=port, bind="127.0.0.1"))
    cred = generate_credentials(catalog)
    env = {**os.environ, "RECFLOW_DATA_DIR": str(data), "RECFLOW_SECRET_KEY": "bench-secret"}
    server = subprocess.Popen(
        [sys.executable, "-m", "recflow", "sftp", "--poll", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: list[tuple[str, str]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.2)
        results += asyncio.run(run(port, cred.username, cred.password, stored, args, server.pid))
    finally:
        server.terminate()
        server.wait(30)
    print(
        f"\nhosted SFTP, {args.calls} calls on one day, {args.minutes:g}-minute calls "
        f"(rows inserted in {fill:.1f} s)\n"
    )
    w = max(len(k) for k, _ in results)
    print(f"| {'measure'.ljust(w)} | value |")
    print(f"| {'-' * w} | ----- |")
    for k, v in results:
        print(f"| {k.ljust(w)} | {v} |")


async def run(port, username, password, stored, args, pid) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seconds = args.minutes * 60
    day = f"{BASE}/WAV_16_8000_S/Daily/{DAY:%Y/%m/%d}"

    def connect():
        return asyncssh.connect(
            "127.0.0.1", port=port, username=username, password=password, known_hosts=None
        )

    async with connect() as conn, conn.start_sftp_client() as sftp:
        times, cpu = [], []
        for _ in range(4):
            t0, c0 = time.perf_counter(), cpu_s(pid)
            names = await sftp.readdir(day)
            times.append(time.perf_counter() - t0)
            cpu.append(cpu_s(pid) - c0)
        n = len(names) - 2
        out.append(
            (
                f"list a day of {n} calls, cold: wall / server CPU",
                f"{times[0]:.2f} s / {cpu[0]:.2f} s",
            )
        )
        best = min(range(1, 4), key=lambda i: times[i])
        out.append(
            (
                f"list a day of {n} calls, best of 3: wall / server CPU",
                f"{times[best]:.2f} s / {cpu[best]:.2f} s",
            )
        )
        first = stored[0]
        files = {
            fmt: next(
                f"{BASE}/{fmt}/Daily/{DAY:%Y/%m/%d}/{e.filename}"
                for e in names
                if first.id in e.filename
            ).replace(".wav", ".mp3" if fmt == "MP3" else ".wav")
            for fmt in ("WAV_16_8000_S", "MP3", "WAV_8_8000_M")
        }
        t0, c0 = time.perf_counter(), cpu_s(pid)
        async with sftp.open(files["WAV_16_8000_S"], "rb") as fh:
            size = len(await fh.read())
        dt, dc = time.perf_counter() - t0, cpu_s(pid) - c0
        out.append(
            (
                "WAV_16_8000_S download: wall / per server CPU second",
                f"{size / dt / 1e6:.0f} MB/s / {size / max(dc, 1e-3) / 1e6:.0f} MB/s",
            )
        )
        for fmt in ("MP3", "WAV_8_8000_M"):
            t0, c0 = time.perf_counter(), cpu_s(pid)
            async with sftp.open(files[fmt], "rb") as fh:
                data = await fh.read()
            cold, cold_cpu = time.perf_counter() - t0, cpu_s(pid) - c0
            t0 = time.perf_counter()
            async with sftp.open(files[fmt], "rb") as fh:
                data = await fh.read()
            warm = time.perf_counter() - t0
            out.append(
                (
                    f"{fmt} first download (converts): wall / per server CPU second",
                    f"{seconds / cold:.0f}x / {seconds / max(cold_cpu, 1e-3):.0f}x real time",
                )
            )
            out.append((f"{fmt} cached download", f"{len(data) / warm / 1e6:.0f} MB/s"))

    before = rss_kb(pid)

    async def one(i: int) -> int:
        rec = stored[i]
        async with connect() as conn, conn.start_sftp_client() as sftp:
            total = 0
            for fmt in args.formats.split(","):
                folder = f"{BASE}/{fmt}/Daily/{rec.ended_at:%Y/%m/%d}"
                name = next(e.filename for e in await sftp.readdir(folder) if rec.id in e.filename)
                async with sftp.open(f"{folder}/{name}", "rb") as fh:
                    while chunk := await fh.read(256 * 1024):
                        total += len(chunk)
            return total

    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(rss_kb(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    sizes = await asyncio.gather(*(one(i) for i in range(1, len(stored))))
    dt = time.perf_counter() - t0
    done.set()
    await sampler
    peak = max(samples)
    out.append(
        (
            f"{len(sizes)} clients at once ({args.formats} each)",
            f"{sum(sizes) / 1e6:.0f} MB in {dt:.1f} s",
        )
    )
    out.append(
        (
            "server RSS before / highest sampled during (every 50 ms) / lifetime peak",
            f"{before / 1024:.0f} / {peak / 1024:.0f} / {rss_kb(pid, 'VmHWM') / 1024:.0f} MiB",
        )
    )
    return out


if __name__ == "__main__":
    main()
