"""Portal page render times with many recordings: account screen and recordings list (first
page, a deep keyset page, a number filter), p50/p95, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/portal_bench.py [--sizes 10000 100000] [--backends sqlite postgresql]
        [--requests 40]

PostgreSQL: a scratch database ``recflow_portal_bench`` on 127.0.0.1:5432 is created and
dropped. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, text

from catalog.db import Database
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.store import LocalStore
from catalog.tables import RecordingRow
from catalog.users import Users
from portal.app import create_app
from portal.deps import SESSION_COOKIE
from portal.settings import PortalSettings

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DB = "recflow_portal_bench"


def seed(catalog: Catalog, n: int) -> list[str]:
    rnd = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    numbers = [f"+1555{i:07d}" for i in range(2000)]
    batch, chosen = [], []
    now = datetime.now(UTC)
    with catalog.db.engine.begin() as conn:
        for i in range(n):
            frm = rnd.choice(numbers)
            batch.append(
                {
                    "id": str(uuid.UUID(int=rnd.getrandbits(128))),
                    "call_id": f"c{i}",
                    "from_number": frm,
                    "from_name": "",
                    "to_number": str(100 + i % 300),
                    "to_name": "",
                    "direction": "inbound",
                    "started_at": start + timedelta(seconds=i * 37),
                    "answered_at": None,
                    "ended_at": None,
                    "duration_seconds": 60.0,
                    "channels": 2,
                    "sample_rate": 8000,
                    "codec": "PCMU",
                    "file_key": "",
                    "file_size": 0,
                    "sha256": "",
                    "private": i % 50 == 0,
                    "participants": [],
                    "pauses": [],
                    "metadata": {},
                    "status": "processed",
                    "attempt": 0,
                    "flow_run_id": None,
                    "claimed_by": None,
                    "error": "",
                    "created_at": now,
                    "processed_at": None,
                }
            )
            if len(batch) == 5000:
                conn.execute(insert(RecordingRow.__table__), batch)
                batch.clear()
            if i % 997 == 0:
                chosen.append(frm)
        if batch:
            conn.execute(insert(RecordingRow.__table__), batch)
        if catalog.db.engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE recordings"))
        else:
            conn.execute(text("ANALYZE"))
    return chosen


def timed(client: TestClient, urls: list[str]) -> tuple[float, float]:
    samples = []
    for url in urls:
        t = time.perf_counter()
        r = client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run(backend: str, n: int, requests: int) -> list[tuple[str, float, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    url = ""
    if backend == "postgresql":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {PG_DB}"))
            c.execute(text(f"CREATE DATABASE {PG_DB}"))
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
    settings = RecflowSettings(data_dir=tmp, database_url=url, secret_key="bench")
    # a fresh Database (not the cached one of Catalog.open): each run recreates the PG database
    catalog = Catalog(
        Database(settings.resolved_database_url), LocalStore(tmp / "recordings"), settings
    )
    try:
        t = time.perf_counter()
        numbers = seed(catalog, n)
        seed_s = time.perf_counter() - t
        app = create_app(catalog, PortalSettings())
        st = app.state.portal
        user = Users(catalog).create("bench@example.com", "admin").user
        raw = st.sessions.create(user.id, "full", "127.0.0.1", datetime.now(UTC))
        client = TestClient(app, cookies={SESSION_COOKIE: st.signer.sign_session(raw)})
        client.get("/recordings")  # warm-up (templates, pools)
        # a cursor ~half way down the list: keyset makes it as cheap as page 1
        first = client.get("/recordings?limit=50")
        deep = ""
        for _ in range(20):
            import re

            m = re.search(r"cursor=([A-Za-z0-9_-]+)", first.text)
            deep = m.group(1) if m else ""
            first = client.get(f"/recordings?limit=50&cursor={deep}")
        out = [("seed rows/s", n / seed_s, 0.0)]
        out.append(("account screen", *timed(client, ["/account?tab=features"] * requests)))
        out.append(("recordings p1", *timed(client, ["/recordings?limit=50"] * requests)))
        out.append(
            ("recordings p21", *timed(client, [f"/recordings?limit=50&cursor={deep}"] * requests))
        )
        out.append(
            (
                "number filter",
                *timed(
                    client,
                    [
                        f"/recordings?number={numbers[i % len(numbers)].replace('+', '%2B')}"
                        for i in range(requests)
                    ],
                ),
            )
        )
        out.append(
            (
                "date range",
                *timed(client, ["/recordings?since=2025-03-01&until=2025-03-02"] * requests),
            )
        )
        return out
    finally:
        catalog.db.dispose()
        if backend == "postgresql":
            with admin.connect() as c:
                c.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--requests", type=int, default=40)
    args = ap.parse_args()
    print(f"{'backend':11} {'rows':>9} {'page':16} {'p50 ms':>8} {'p95 ms':>8}")
    for backend in args.backends:
        for n in args.sizes:
            for name, p50, p95 in run(backend, n, args.requests):
                if name == "seed rows/s":
                    print(f"{backend:11} {n:>9} {'(seeded/s)':16} {p50:>8.0f}")
                else:
                    print(f"{backend:11} {n:>9} {name:16} {p50:>8.1f} {p95:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
