"""Dashboard and call reports at scale: p50/p95 per query over a catalog of N recordings.

    .venv/bin/python benchmarks/quality_bench.py [--recordings 1000000] [--runs 15] [--pg URL]

N recordings spread over 365 days, 200 user numbers, 10% private, three directions, are bulk
inserted into a fresh SQLite catalog (or PostgreSQL with --pg). Then, for an admin (every call)
and a supervisor (20 numbers), each figure is timed ``--runs`` times: the dashboard (all of it)
and the call report grouped by all / day / direction / user, over the whole year and the last
30 days. Also: Ed25519 signing + chain append cost per recording at capture (seal of a batch of
1 and of 50). Prints one table. Not a test: numbers depend on the (shared) machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from catalog.manifests import seal
from catalog.models import Recording
from catalog.portal_queries import Visibility
from catalog.quality import Period
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.tables import RecordingRow
from catalog.users import Role, User
from services.reports import call_report, dashboard

END = datetime(2026, 3, 1, tzinfo=UTC)


def fill(catalog: Catalog, n: int) -> None:
    rnd = random.Random(15)
    numbers = [f"{1000 + i}" for i in range(200)]
    batch = []
    now = datetime.now(UTC)
    for i in range(n):
        started = END - timedelta(seconds=rnd.randrange(365 * 86400))
        batch.append(
            {
                "id": str(uuid.UUID(int=rnd.getrandbits(128))),
                "call_id": "",
                "from_number": rnd.choice(numbers) if i % 2 else f"+1555{rnd.randrange(10**6)}",
                "from_name": "",
                "to_number": rnd.choice(numbers),
                "to_name": "",
                "direction": rnd.choice(("inbound", "outbound", "internal")),
                "started_at": started,
                "duration_seconds": rnd.uniform(5, 900),
                "channels": 2,
                "sample_rate": 8000,
                "codec": "",
                "file_key": "",
                "file_size": 0,
                "sha256": "",
                "private": rnd.random() < 0.1,
                "participants": [],
                "pauses": [],
                "metadata_": {},
                "status": "processed",
                "attempt": 1,
                "error": "",
                "created_at": now,
            }
        )
        if len(batch) == 20000:
            with catalog.db.session() as s:
                s.execute(insert(RecordingRow), batch)
            batch = []
    if batch:
        with catalog.db.session() as s:
            s.execute(insert(RecordingRow), batch)
    with catalog.db.engine.connect() as c:
        c.exec_driver_sql("ANALYZE") if catalog.db.is_sqlite else None


def timed(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    fn()  # warm the page cache once
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    xs.sort()
    return statistics.median(xs), xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--pg", default="", help="postgresql+psycopg://… (a database to fill)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="quality-bench-"))
    settings = RecflowSettings(data_dir=tmp, secret_key="bench", database_url=args.pg)
    catalog = Catalog.open(settings)
    t = time.perf_counter()
    fill(catalog, args.recordings)
    print(
        f"filled {args.recordings} recordings in {time.perf_counter() - t:.0f} s "
        f"({'PostgreSQL' if args.pg else 'SQLite'})"
    )
    admin = Visibility(everything=True, private_all=True)
    group = frozenset(f"{1000 + i}" for i in range(20))
    sup = Visibility(numbers=group, own_numbers=frozenset({"1000"}))
    users = [
        User(
            id=str(i),
            email=f"u{i}@x",
            role=Role.user,
            totp_enrolled=True,
            numbers=[f"{1000 + i}"],
            created_at=END,
        )
        for i in range(200)
    ]
    year = Period(END - timedelta(days=365), END)
    month = Period(END - timedelta(days=30), END)
    rows = []
    for who, vis in (("admin", admin), ("supervisor (20 numbers)", sup)):
        for pname, period in (("365 days", year), ("30 days", month)):
            rows.append(
                (
                    who,
                    pname,
                    "dashboard",
                    *timed(lambda v=vis, p=period: dashboard(catalog, v, p, tmp), args.runs),
                )
            )
            for g in ("all", "day", "direction", "user"):
                runs = max(3, args.runs // 5) if g == "user" else args.runs
                rows.append(
                    (
                        who,
                        pname,
                        f"report {g}",
                        *timed(
                            lambda g=g, v=vis, p=period: call_report(catalog, v, users, g, p),
                            runs,
                        ),
                    )
                )
    print()
    print("| viewer | period | query | p50 ms | p95 ms |")
    print("| --- | --- | --- | ---: | ---: |")
    for who, pname, q, p50, p95 in rows:
        print(f"| {who} | {pname} | {q} | {p50:.0f} | {p95:.0f} |")
    # signing at capture
    recs = [
        Recording(sha256="0" * 64, file_size=1, from_number="1", to_number="2") for _ in range(500)
    ]
    t = time.perf_counter()
    for r in recs[:200]:
        seal(catalog, [r])
    one = (time.perf_counter() - t) / 200 * 1000
    t = time.perf_counter()
    for i in range(200, 500, 50):
        seal(catalog, recs[i : i + 50])
    batch = (time.perf_counter() - t) / 300 * 1000
    print()
    print("| sealing at capture | ms per recording |")
    print("| --- | ---: |")
    print(f"| one recording per transaction (add_recording) | {one:.2f} |")
    print(f"| batches of 50 (recorder capture_many) | {batch:.2f} |")
    from catalog.manifests import signing_key

    key = signing_key("bench")
    t = time.perf_counter()
    for _ in range(2000):
        key.sign(b"x" * 300)
    print(f"| Ed25519 signature alone | {(time.perf_counter() - t) / 2000 * 1000:.3f} |")


if __name__ == "__main__":
    main()
