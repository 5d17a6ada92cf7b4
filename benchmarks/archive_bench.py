"""Archive throughput to moto's S3 server vs plain boto3, and the cost of a no-op incremental run.

    .venv/bin/python benchmarks/archive_bench.py [--recordings 1000] [--seconds 5] [--ledger 100000]

1. N stereo 8 kHz calls are put into a fresh catalog.
2. Plain boto3: the same files uploaded with ``put_object`` from a thread pool of the archive's
   concurrency (the best a hand-written script would do).
3. recflow: ``run_archive`` with format WAV_16_8000_S (the stored bytes, so both upload the same
   bytes) in the Focus layout: planning, Content-MD5 verification, ledger commits included.
   The order of 2 and 3 alternates over ``--rounds`` and the best of each is kept.
4. MP3: the same recordings encoded on the fly (information: CPU-bound on this machine).
5. A ledger of ``--ledger`` archived recordings and the time of a run that finds nothing new.
Prints one table. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import boto3
from sqlalchemy import insert

from catalog.archive import ArchiveDestination
from catalog.archive_tables import ArchiveDoneRow
from catalog.db import Database
from catalog.models import Direction, Recording
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.store import LocalStore
from catalog.tables import RecordingRow
from connectors.s3 import S3Config, S3Connector
from services.archive import plan_signature, run_archive, run_archive_sync
from tests.archive.archive_support import free_port, write_call_wav


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each call")
    ap.add_argument("--ledger", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mp3", type=int, default=200, help="recordings for the MP3 row (0: skip)")
    args = ap.parse_args()

    # moto in its own process: in-process it would share the GIL with the code being measured
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    for _ in range(100):
        try:
            s3.list_buckets()
            break
        except Exception:
            time.sleep(0.2)
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as tmp:
        root = Path(tmp)
        catalog = Catalog(
            Database(f"sqlite:///{root / 'catalog.sqlite3'}"),
            LocalStore(root / "recordings"),
            RecflowSettings(data_dir=root),
        )
        src = write_call_wav(root / "call.wav", args.seconds, seed=1)
        t0 = datetime(2025, 6, 5, tzinfo=UTC)
        recs = []
        for i in range(args.recordings):
            rec = Recording(
                from_number="+447700900128",
                to_number=f"+44163296{i:04d}",
                direction=Direction.inbound,
                started_at=t0 + timedelta(minutes=i),
                ended_at=t0 + timedelta(minutes=i, seconds=args.seconds),
                duration_seconds=args.seconds,
            )
            recs.append(catalog.add_recording(rec, audio=src))
        paths = [catalog.store.local_path(r.file_key) for r in recs]
        total_mb = sum(p.stat().st_size for p in paths) / 1e6

        def boto3_round() -> float:
            bucket = f"plain-{uuid.uuid4().hex[:8]}"
            s3.create_bucket(Bucket=bucket)

            def put(i: int) -> None:
                with open(paths[i], "rb") as f:
                    s3.put_object(Bucket=bucket, Key=f"plain/{recs[i].id}.wav", Body=f)

            start = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(put, range(len(paths))))
            return time.perf_counter() - start

        def recflow_round(fmt: str, limit: int | None = None) -> tuple[float, int]:
            bucket = f"rf-{uuid.uuid4().hex[:8]}"
            s3.create_bucket(Bucket=bucket)
            dest = ArchiveDestination(
                name=f"bench-{bucket}",
                connector="s3",
                layout="focus",
                formats=[fmt],
                concurrency=args.concurrency,
            )
            conn = S3Connector(
                S3Config(
                    bucket=bucket,
                    endpoint_url=endpoint,
                    access_key_id="testing",
                    secret_access_key="testing",
                    max_pool_connections=args.concurrency * 2,
                )
            )
            start = time.perf_counter()
            rep = run_archive_sync(catalog, dest, lambda name: conn, limit=limit)
            elapsed = time.perf_counter() - start
            assert rep.ok and rep.archived == (limit or len(recs)), rep.summary()
            return elapsed, rep.uploaded_bytes

        plain, ours = [], []
        for r in range(args.rounds):
            order = [("plain", boto3_round), ("recflow", lambda: recflow_round("WAV_16_8000_S")[0])]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                (plain if name == "plain" else ours).append(fn())
        best_plain, best_ours = min(plain), min(ours)
        n = len(recs)
        rows.append(
            (
                "plain boto3 put_object",
                f"{n / best_plain:,.0f}",
                f"{total_mb / best_plain:,.1f}",
                "1.00",
            )
        )
        rows.append(
            (
                "recflow archive (WAV_16_8000_S)",
                f"{n / best_ours:,.0f}",
                f"{total_mb / best_ours:,.1f}",
                f"{best_plain / best_ours:.2f}",
            )
        )
        if args.mp3:
            m = min(args.mp3, n)
            elapsed, nbytes = recflow_round("MP3", limit=m)
            rows.append(
                (
                    f"recflow archive (MP3, {m} recordings)",
                    f"{m / elapsed:,.0f}",
                    f"{nbytes / 1e6 / elapsed:,.2f} (out)",
                    "-",
                )
            )

        # ledger of N archived recordings, then a run that finds nothing new
        dest = ArchiveDestination(name="noop", connector="s3", layout="focus", formats=["MP3"])
        plan = plan_signature(dest, None)
        now = datetime.now(UTC)
        batch = 10_000
        for start_i in range(0, args.ledger, batch):
            ids = [str(uuid.uuid4()) for _ in range(min(batch, args.ledger - start_i))]
            with catalog.db.session() as s:
                s.execute(
                    insert(RecordingRow),
                    [
                        {
                            "id": rid,
                            "call_id": rid,
                            "from_number": "+447700900128",
                            "from_name": "",
                            "to_number": "+441632960560",
                            "to_name": "",
                            "direction": "inbound",
                            "started_at": now,
                            "ended_at": now,
                            "duration_seconds": 5.0,
                            "channels": 2,
                            "sample_rate": 8000,
                            "codec": "pcm",
                            "file_key": f"x/{rid}.wav",
                            "file_size": 1,
                            "sha256": "",
                            "private": False,
                            "participants": [],
                            "pauses": [],
                            "metadata_": {},
                            "status": "processed",
                            "attempt": 0,
                            "error": "",
                            "created_at": now,
                        }
                        for rid in ids
                    ],
                )
                s.execute(
                    insert(ArchiveDoneRow),
                    [
                        {
                            "archive": "noop",
                            "recording_id": rid,
                            "plan": plan,
                            "done_at": now,
                            "moved": False,
                        }
                        for rid in ids
                    ],
                )
        with catalog.db.session() as s:  # the bench's own recordings are archived too
            s.execute(
                insert(ArchiveDoneRow),
                [
                    {
                        "archive": "noop",
                        "recording_id": r.id,
                        "plan": plan,
                        "done_at": now,
                        "moved": False,
                    }
                    for r in recs
                ],
            )
        times = []
        for _ in range(3):
            start = time.perf_counter()
            rep = asyncio.run(run_archive(catalog, dest, lambda name: None))  # type: ignore[arg-type, return-value]
            times.append(time.perf_counter() - start)
            assert rep.pending == 0 and rep.uploaded_objects == 0
        rows.append(
            (
                f"no-op incremental run, {args.ledger + n:,} archived",
                "-",
                "-",
                f"{min(times):.3f} s (goal < 2 s)",
            )
        )
        catalog.db.dispose()
    server.terminate()
    server.wait(10)

    print(
        f"\narchive benchmark: {args.recordings} recordings x {args.seconds:g} s stereo 8 kHz "
        f"({total_mb:.1f} MB), concurrency {args.concurrency}, moto_server (own process) on 127.0.0.1, "
        f"best of {args.rounds} rounds, {os.cpu_count()} CPUs"
    )
    widths = [
        max(len(r[i]) for r in [*rows, ("case", "files/s", "MB/s", "ratio / time")])
        for i in range(4)
    ]
    header = ("case", "files/s", "MB/s", "ratio / time")
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
