"""Workspace search benchmark: N synthetic recordings with transcripts (a Zipf-distributed
call-centre vocabulary), indexed by the database's own full-text index through the catalog's
triggers, then:

- index build: insert rate with the index triggers on, and per-recording cost vs. without;
- quick search (ranked, with snippets) vs. a plain ``LIKE '%…%'`` scan of the transcripts, for
  rare, common and two-word queries and a phrase, in the same run;
- advanced search with three conditions; the list page at depth (keyset); export rows/s.

    .venv/bin/python benchmarks/search_bench.py [--n 100000] [--backends sqlite,postgresql]

Timings on a shared 2-core machine are noisy: read the ratios more than the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from catalog.db import Database  # noqa: E402
from catalog.portal_queries import RecordingQuery, Visibility, page_recordings  # noqa: E402
from catalog.repository import Catalog  # noqa: E402
from catalog.settings import RecflowSettings  # noqa: E402
from catalog.store import LocalStore  # noqa: E402
from catalog.tables import RecordingRow, TranscriptRow  # noqa: E402
from services.search import ConditionIn, SearchQuery, run_search  # noqa: E402
from services.workspace import compile_for, export_csv  # noqa: E402

WORDS = [
    "the",
    "i",
    "you",
    "to",
    "a",
    "and",
    "it",
    "is",
    "that",
    "of",
    "in",
    "my",
    "for",
    "on",
    "this",
    "have",
    "be",
    "your",
    "with",
    "we",
    "can",
    "what",
    "at",
    "so",
    "just",
    "do",
    "not",
    "are",
    "me",
    "but",
    "was",
    "about",
    "know",
    "get",
    "will",
    "no",
    "there",
    "like",
    "if",
    "one",
    "call",
    "all",
    "would",
    "they",
    "yes",
    "okay",
    "account",
    "payment",
    "bill",
    "billing",
    "card",
    "number",
    "help",
    "please",
    "thank",
    "thanks",
    "order",
    "delivery",
    "refund",
    "cancel",
    "subscription",
    "service",
    "price",
    "plan",
    "month",
    "charge",
    "charged",
    "twice",
    "balance",
    "address",
    "email",
    "phone",
    "line",
    "internet",
    "speed",
    "router",
    "engineer",
    "appointment",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "weekend",
    "morning",
    "afternoon",
    "today",
    "tomorrow",
    "week",
    "contract",
    "upgrade",
    "downgrade",
    "discount",
    "offer",
    "competitor",
    "cheaper",
    "expensive",
    "problem",
    "issue",
    "broken",
    "working",
    "fault",
    "reset",
    "password",
    "login",
    "app",
    "website",
    "online",
    "manager",
    "supervisor",
    "complaint",
    "escalate",
    "transfer",
    "hold",
    "minute",
    "second",
    "moment",
    "sorry",
    "understand",
    "sure",
    "right",
    "great",
    "perfect",
    "fine",
    "check",
    "checking",
    "look",
    "looking",
    "see",
    "send",
    "sent",
    "receive",
    "received",
    "parcel",
    "package",
    "tracking",
    "courier",
    "driver",
    "late",
    "early",
    "missing",
    "damaged",
    "replace",
    "replacement",
    "return",
    "label",
    "credit",
    "debit",
    "direct",
    "transaction",
    "reference",
    "confirm",
    "confirmation",
    "details",
    "name",
    "date",
    "birth",
    "postcode",
    "security",
    "question",
    "verify",
    "identity",
    "fraud",
    "suspicious",
    "blocked",
    "unlock",
    "pin",
    "statement",
    "invoice",
    "paid",
    "overdue",
    "reminder",
    "letter",
    "text",
    "message",
    "voicemail",
    "callback",
    "ring",
    "hello",
    "goodbye",
    "bye",
    "lovely",
    "cheers",
]
QUERIES = {
    "rare word": "fraud",
    "common word": "account",
    "two words": "refund parcel",
    "phrase": '"charged twice"',
}
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def synth(n: int, seed: int = 7):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(WORDS) + 1) ** 1.05
    weights /= weights.sum()
    for i in range(n):
        words = rng.choice(len(WORDS), size=int(rng.integers(30, 120)), p=weights)
        segs, t = [], 0.0
        for j, chunk in enumerate(np.array_split(words, max(1, len(words) // 12))):
            line = " ".join(WORDS[k] for k in chunk)
            segs.append(
                {
                    "speaker": "caller" if j % 2 == 0 else "callee",
                    "channel": j % 2,
                    "start": t,
                    "end": t + 4.0,
                    "text": line,
                    "words": [],
                }
            )
            t += 4.5
        rid = str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | i))
        started = T0 + timedelta(seconds=int(i * 37))
        yield (
            {
                "id": rid,
                "call_id": f"c{i}",
                "from_number": f"+4477009{i % 100000:05d}",
                "from_name": "",
                "to_number": f"+44163296{i % 1000:04d}",
                "to_name": "",
                "direction": "inbound",
                "started_at": started,
                "answered_at": started,
                "ended_at": started + timedelta(seconds=t),
                "duration_seconds": t,
                "channels": 2,
                "sample_rate": 8000,
                "codec": "pcmu",
                "file_key": "",
                "file_size": 0,
                "sha256": "",
                "private": i % 50 == 0,
                "participants": [],
                "pauses": [],
                "metadata": {},
                "status": "processed",
                "attempt": 1,
                "error": "",
                "created_at": started,
            },
            {
                "recording_id": rid,
                "engine": "synthetic",
                "language": "en",
                "segments": segs,
                "text": " ".join(s["text"] for s in segs),
                "created_at": started,
            },
        )


def load(cat: Catalog, n: int, *, batch: int = 5000) -> float:
    rec_t, tr_t = RecordingRow.__table__, TranscriptRow.__table__
    started = time.perf_counter()
    recs, trs = [], []
    with cat.db.engine.begin() as conn:
        for r, t in synth(n):
            recs.append(r)
            trs.append(t)
            if len(recs) >= batch:
                conn.execute(insert(rec_t), recs)
                conn.execute(insert(tr_t), trs)
                recs, trs = [], []
        if recs:
            conn.execute(insert(rec_t), recs)
            conn.execute(insert(tr_t), trs)
    return time.perf_counter() - started


_load_secs = 0.0
_PG_EXTRA: list[str] = []


def _fresh(url: str) -> str:
    """A second, empty database of the same backend."""
    if not url:
        return ""
    import psycopg

    name = f"workspace_bench_{uuid.uuid4().hex[:6]}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _PG_EXTRA.append(name)
    return f"{base}/{name}"


def open_catalog(url: str, tmp: Path) -> Catalog:
    s = RecflowSettings(data_dir=tmp, database_url=url)
    return Catalog(Database(s.resolved_database_url), LocalStore(tmp / "rec"), s)


def like_baseline(cat: Catalog, word: str, limit: int = 50) -> None:
    words = (
        [w.strip('"') for w in word.replace('"', " ").split()]
        if '"' not in word
        else [word.strip('"')]
    )
    where = " AND ".join(f"lower(t.text) LIKE :w{i}" for i in range(len(words)))
    sql = text(
        f"SELECT r.id FROM recordings r JOIN transcripts t ON t.recording_id = r.id WHERE {where} "
        "AND r.private = :f ORDER BY r.started_at DESC LIMIT :n"
    )
    params = {f"w{i}": f"%{w.lower()}%" for i, w in enumerate(words)} | {"n": limit, "f": False}
    with cat.db.engine.connect() as conn:
        conn.execute(sql, params).fetchall()


def timed(fn, reps: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def bench(backend: str, url: str, n: int, reps: int) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cat = open_catalog(url, Path(tmp))
        secs = load(cat, n)
        global _load_secs
        _load_secs = secs
        rows.append(
            (
                backend,
                f"load {n} recordings + transcripts (index triggers on)",
                f"{n / secs:,.0f} rec/s",
                f"{secs / n * 1e6:,.0f} µs/rec",
            )
        )
        if backend == "sqlite":
            with cat.db.engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        vis = Visibility(everything=True)
        for q in QUERIES.values():
            compiled = compile_for(cat, SearchQuery(q=q))
            fts = timed(lambda c=compiled: run_search(cat, c, vis, limit=50), reps)
            like = timed(lambda q=q: like_baseline(cat, q), max(3, reps // 3))
            hits = len(run_search(cat, compiled, vis, limit=500).hits)
            rows.append(
                (
                    backend,
                    f"quick search '{q}' ranked+snippets ({hits}+ hits)",
                    f"p50 {statistics.median(fts):.1f} / p95 {pct(fts, 0.95):.1f} ms",
                    f"LIKE scan p50 {statistics.median(like):.1f} / p95 {pct(like, 0.95):.1f} ms",
                )
            )
        for q in ("account", "fraud"):
            compiled = compile_for(cat, SearchQuery(q=q))
            t = timed(lambda c=compiled: run_search(cat, c, vis, limit=50, order="newest"), reps)
            rows.append(
                (
                    backend,
                    f"quick search '{q}' newest first (sort=newest)",
                    f"p50 {statistics.median(t):.1f} / p95 {pct(t, 0.95):.1f} ms",
                    "",
                )
            )
        adv = SearchQuery(
            conditions=[
                ConditionIn(field="transcript", op="includes", value="refund"),
                ConditionIn(field="duration", op="after", value=60),
                ConditionIn(field="from_number", op="starts_with", value="+4477009"),
            ]
        )
        c = compile_for(cat, adv)
        t = timed(lambda: run_search(cat, c, vis, limit=50), reps)
        rows.append(
            (
                backend,
                "advanced: transcript includes + duration after + number starts",
                f"p50 {statistics.median(t):.1f} / p95 {pct(t, 0.95):.1f} ms",
                "",
            )
        )
        # list page at depth: follow keyset cursors 200 pages deep, time each page
        page_t, cursor = [], None
        for _ in range(200):
            s = time.perf_counter()
            _, cursor = page_recordings(cat, RecordingQuery(), vis, cursor=cursor, limit=50)
            page_t.append((time.perf_counter() - s) * 1000)
        rows.append(
            (
                backend,
                "list page, 200 pages deep (keyset, 50 rows)",
                f"p50 {statistics.median(page_t):.1f} / p95 {pct(page_t, 0.95):.1f} ms",
                f"last page {page_t[-1]:.1f} ms",
            )
        )
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        s = time.perf_counter()
        lines = (
            sum(
                chunk.count("\n") for chunk in export_csv(cat, compile_for(cat, SearchQuery()), vis)
            )
            - 1
        )
        secs = time.perf_counter() - s
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        rows.append(
            (
                backend,
                f"CSV export of every visible row ({lines})",
                f"{lines / secs:,.0f} rows/s",
                f"peak RSS grew {grew:.1f} MiB",
            )
        )
        cat.db.dispose()
        # index build cost: the same load with the index triggers off
        small = max(1000, n // 10)
        with tempfile.TemporaryDirectory() as tmp2:
            cat2 = open_catalog(_fresh(url), Path(tmp2))
            with cat2.db.engine.begin() as conn:
                if backend == "sqlite":
                    names = [
                        r[0]
                        for r in conn.exec_driver_sql(
                            "SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE 'search_%'"
                        )
                    ]
                    for name in names:
                        conn.exec_driver_sql(f"DROP TRIGGER {name}")
                else:
                    for t in ("recordings", "transcripts"):
                        conn.exec_driver_sql(f"ALTER TABLE {t} DISABLE TRIGGER USER")
            off = load(cat2, small) / small
            cat2.db.dispose()
        on = _load_secs / n
        rows.append(
            (
                backend,
                f"index build cost (load of {small} with triggers off)",
                f"{(on - off) * 1e6:,.0f} µs/rec for the index",
                f"{off * 1e6:,.0f} µs/rec without",
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--backends", default="sqlite")
    ap.add_argument(
        "--pg",
        default=os.environ.get(
            "RECFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = ap.parse_args()
    out: list[tuple[str, str, str, str]] = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            out += bench("sqlite", "", args.n, args.reps)
        else:
            import psycopg

            name = f"workspace_bench_{uuid.uuid4().hex[:6]}"
            admin = args.pg.replace("+psycopg", "")
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                out += bench(
                    "postgresql", args.pg.rsplit("/", 1)[0] + f"/{name}", args.n, args.reps
                )
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    for db in [name, *_PG_EXTRA]:
                        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    w = [max(len(r[i]) for r in out) for i in range(4)]
    head = ("backend", "what", "measured", "baseline / note")
    w = [max(w[i], len(head[i])) for i in range(4)]
    print(" | ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    print("-+-".join("-" * x for x in w))
    for r in out:
        print(" | ".join(c.ljust(w[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    main()
