"""Pipeline benchmark: N recordings captured → all `process-recording` runs Completed.

For each Prefect backend (SQLite, PostgreSQL) it measures, in the same run and at the same
concurrency:
- bare: a trivial async Prefect flow called N times (bounded by the same semaphore), the floor
  any Prefect-based design pays;
- recflow/null: captured recordings claimed by the in-process worker (claim first, then run), with a
  NULL transcriber (benchmark only: returns an empty transcript) to isolate orchestration;
- recflow/null@5/s: the same at an offered load (recordings captured at a steady 5/s, not in
  one burst): the latency a caller sees in normal operation (target p95 ≤ 2 s);
- recflow/whisper: the same with real faster-whisper transcription (fewer recordings).
Reports recordings/s, p50/p95 capture→done, ratio to bare, lost and duplicated recordings, flow
runs per recording by state (exactly one Completed and nothing else is the target), and CPU ms per
recording in the worker (this process, less the CPU of capturing the recordings into the catalog)
and in the Prefect server process.

    .venv/bin/python benchmarks/pipeline.py [--n 200] [--n-paced 50] [--rate 5] [--n-whisper 20]
        [--backends sqlite,postgresql] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


# ---------------------------------------------------------------- child: one backend, one mode


class NullTranscriber:
    """BENCHMARK ONLY: skips speech recognition so orchestration cost is measured alone."""

    async def transcribe(self, recording, audio):  # type: ignore[no-untyped-def]
        from catalog.models import Transcript

        return Transcript(recording_id=recording.id, engine="null-benchmark-only")


async def bare(n: int, concurrency: int) -> dict[str, float]:
    from prefect import flow, task

    @task
    async def touch(x: str) -> str:
        return x

    @flow(name="bare-trivial", persist_result=False)
    async def trivial(x: str) -> str:
        return await touch(x)

    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(i: int) -> None:
        async with sem:
            t = time.perf_counter()
            await trivial(str(i))
            lat.append(time.perf_counter() - t)

    from prefect.context import AsyncClientContext

    from flows.worker import install_client_fixes

    install_client_fixes()  # the same client set-up as the worker, so the ratio is fair
    # and one long-lived client context
    async with AsyncClientContext.get_or_create():
        await trivial("warm-up")
        cpu0, server0 = time.process_time(), server_cpu_seconds()
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    return {
        "n": n,
        "rate": n / wall,
        "p50": pct(lat, 0.5),
        "p95": pct(lat, 0.95),
        "lost": 0,
        "dup": 0,
        "one_completed": n,
        "other_states": {},
        "cpu_ms_worker": 1000 * (time.process_time() - cpu0) / n,
        "cpu_ms_server": 1000 * (server_cpu_seconds() - server0) / n,
    }


async def recflow_pipeline(
    n: int,
    concurrency: int,
    data_dir: Path,
    null: bool,
    audio: Path,
    offered_rate: float = 0.0,
    profile: str = "",
    named_runs: bool = True,
) -> dict[str, float]:
    from prefect.client.orchestration import get_client

    from catalog.models import Recording, RecordingStatus
    from catalog.repository import Catalog
    from catalog.settings import RecflowSettings
    from flows.worker import Worker, WorkerOptions
    from services.runtime import override_transcriber

    settings = RecflowSettings(
        data_dir=data_dir, database_url=os.environ.get("BENCH_CATALOG_URL", "")
    )
    catalog = Catalog.open(settings)
    override_transcriber(NullTranscriber() if null else None)
    # the same options `recflow worker` uses for this backend, with a faster catalog sweep
    worker = Worker(
        catalog,
        WorkerOptions(
            concurrency=concurrency,
            sweep_seconds=0.2,
            named_runs=named_runs,
        ),
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.ready.wait(), 120)
    # warm-up recording (model load, deployment lookups) not counted
    warm = catalog.add_recording(Recording(from_number="warm"), audio=audio)
    while (state := catalog.get_recording(warm.id)).status is not RecordingStatus.processed:
        if state.status is RecordingStatus.failed:
            raise SystemExit(f"warm-up recording failed: {state.error}")
        await asyncio.sleep(0.1)
    ids = []
    prof = None
    if profile:  # where the worker side's CPU goes (cProfile of this process's main thread)
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    cpu0, server0 = time.process_time(), server_cpu_seconds()
    t0 = time.time()
    ingest_cpu = 0.0  # capturing into the catalog is the recorder's cost, not the worker's
    for i in range(n):
        if offered_rate:
            await asyncio.sleep(max(0.0, t0 + i / offered_rate - time.time()))
        c = time.process_time()
        ids.append(
            catalog.add_recording(
                Recording(from_number=f"+1555{i:06d}", to_number="+15550000"), audio=audio
            ).id
        )
        ingest_cpu += time.process_time() - c
    deadline = time.time() + 60 + n * (3 if null else 15)
    while time.time() < deadline:
        # only this phase's recordings (with PostgreSQL both phases share one catalog), counted
        # in SQL: loading 100 recordings every poll cost more CPU than the worker's own catalog
        # work. Latency and rate come from processed_at, not from this poll.
        processed, failed = status_counts(catalog, ids)
        if processed == len(ids) or failed:
            break
        await asyncio.sleep(0.5)
    cpu_worker = time.process_time() - cpu0 - ingest_cpu
    cpu_server = server_cpu_seconds() - server0
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    stop.set()
    await runner
    recs = catalog.recordings_by_ids(ids)
    done = [r for r in recs if r.status is RecordingStatus.processed]
    lat = [(r.processed_at - r.created_at).total_seconds() for r in done if r.processed_at]
    wall = max((r.processed_at for r in done), default=None)
    rate = len(done) / ((wall.timestamp() - t0) if wall else float("inf"))
    # flow runs per recording, by state, straight from Prefect
    by_rec: dict[str, list[str]] = {}
    async with get_client() as client:
        offset = 0
        while True:
            runs = await client.read_flow_runs(limit=200, offset=offset)
            if not runs:
                break
            for r in runs:
                rid = (r.parameters or {}).get("recording_id")
                if rid:
                    by_rec.setdefault(rid, []).append(r.state.type.value if r.state else "NONE")
            offset += len(runs)
    mine = [by_rec.get(rid, []) for rid in ids]
    other: dict[str, int] = {}
    for states in mine:
        for st in states:
            if st != "COMPLETED":
                other[st] = other.get(st, 0) + 1
    return {
        "n": n,
        "rate": rate,
        "p50": pct(lat, 0.5),
        "p95": pct(lat, 0.95),
        "lost": n - len(done),
        "dup": sum(1 for states in mine if states.count("COMPLETED") > 1),
        "one_completed": sum(1 for states in mine if states == ["COMPLETED"]),
        "other_states": other,
        "cpu_ms_worker": 1000 * cpu_worker / max(1, n),
        "cpu_ms_server": 1000 * cpu_server / max(1, n),
    }


def status_counts(catalog, ids: list[str]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from catalog.tables import RecordingRow

    with catalog.db.session() as s:
        rows = s.execute(
            select(RecordingRow.status, func.count())
            .where(RecordingRow.id.in_(ids))
            .group_by(RecordingRow.status)
        ).all()
    counts = {str(getattr(st, "value", st)): n for st, n in rows}
    return counts.get("processed", 0), counts.get("failed", 0)


def server_cpu_seconds() -> float:
    """CPU time (user + system) of the Prefect server process so far (Linux /proc)."""
    pid = os.environ.get("BENCH_SERVER_PID")
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


REQUESTS: collections.Counter[str] = collections.Counter()


def count_client_traffic() -> None:
    """Count what the client sends the Prefect server: each HTTP request by method and route,
    and each event (the server records each one): what a recording costs the server, in units
    the two designs share."""
    import re

    from prefect.client.base import PrefectHttpxAsyncClient
    from prefect.events.worker import EventsWorker

    send, handle = PrefectHttpxAsyncClient.send, EventsWorker._handle
    uuid_re = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}")

    async def counted_send(self, request, *a, **k):  # type: ignore[no-untyped-def]
        REQUESTS[f"{request.method} {uuid_re.sub('{id}', request.url.path)}"] += 1
        return await send(self, request, *a, **k)

    async def counted_handle(self, event):  # type: ignore[no-untyped-def]
        REQUESTS[f"event {event.event.rsplit('.', 1)[0]}"] += 1
        return await handle(self, event)

    PrefectHttpxAsyncClient.send = counted_send  # type: ignore[method-assign]
    EventsWorker._handle = counted_handle  # type: ignore[method-assign]


def traffic(phase: Callable[[], Any], n: int) -> dict[str, Any]:
    """Run one phase and add the client's requests and events per recording to its result."""
    REQUESTS.clear()
    result: dict[str, Any] = asyncio.run(phase())
    result["requests_per_rec"] = (
        sum(v for k, v in REQUESTS.items() if not k.startswith("event")) / n
    )
    result["events_per_rec"] = sum(v for k, v in REQUESTS.items() if k.startswith("event")) / n
    result["traffic"] = {k: round(v / n, 2) for k, v in REQUESTS.most_common() if v >= n / 2}
    return result


def child(args: argparse.Namespace) -> None:
    data = Path(args.data_dir)
    audio = Path(args.audio)
    out: dict[str, dict[str, float]] = {}
    if args.traffic:
        count_client_traffic()
        out["bare"] = traffic(lambda: bare(args.n, args.concurrency), args.n + 1)
        out["recflow/null"] = traffic(
            lambda: recflow_pipeline(args.n, args.concurrency, data / "null", True, audio),
            args.n + 1,
        )
        print("RESULT " + json.dumps(out))
        return
    out["bare"] = asyncio.run(bare(args.n, args.concurrency))
    if args.compare:  # the worker before RunFactory: the engine creates and renames each run
        out["recflow/null (engine-created runs)"] = asyncio.run(
            recflow_pipeline(
                args.n, args.concurrency, data / "engine", True, audio, named_runs=False
            )
        )
    out["recflow/null"] = asyncio.run(
        recflow_pipeline(
            args.n, args.concurrency, data / "null", True, audio, profile=args.profile or ""
        )
    )
    if args.compare:  # diagnostic: what the recflow.* events cost (emit made a no-op)
        from flows import events

        emit = events.emit
        events.emit = lambda *a, **k: None  # type: ignore[assignment]
        out["recflow/null (no events: diagnostic)"] = asyncio.run(
            recflow_pipeline(args.n, args.concurrency, data / "noevents", True, audio)
        )
        events.emit = emit  # type: ignore[assignment]
    if args.n_paced:
        out[f"recflow/null@{args.rate:g}/s"] = asyncio.run(
            recflow_pipeline(args.n_paced, args.concurrency, data / "paced", True, audio, args.rate)
        )
    if args.n_whisper:
        out["recflow/whisper"] = asyncio.run(
            recflow_pipeline(args.n_whisper, args.concurrency, data / "whisper", False, audio)
        )
    print("RESULT " + json.dumps(out))


# ---------------------------------------------------------------- parent: servers and the table


def run_backend(backend: str, args: argparse.Namespace, audio: Path) -> dict[str, dict[str, float]]:
    from tests.support import PrefectServer, child_env, stop_group

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-"))
    db_url = catalog_url = None
    if backend == "postgresql":
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}_prefect"')
            c.execute(f'CREATE DATABASE "{name}_catalog"')
        db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}_prefect"
        catalog_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}_catalog"
    server = PrefectServer(tmp / "prefect", database_url=db_url).start()
    from flows.worker import default_concurrency

    concurrency = args.concurrency or default_concurrency(backend)  # as `recflow worker`
    try:
        env = child_env(
            tmp / "data",
            PREFECT_API_URL=server.api_url,
            PREFECT_LOGGING_LEVEL="ERROR",
            BENCH_BACKEND=backend,
            BENCH_SERVER_PID=str(server.proc.pid if server.proc else ""),
        )
        if catalog_url:
            env["BENCH_CATALOG_URL"] = catalog_url
        r = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--n",
                str(args.n),
                "--n-whisper",
                str(args.n_whisper),
                "--n-paced",
                str(args.n_paced),
                "--rate",
                str(args.rate),
                *(["--profile", f"{args.profile}.{backend}"] if args.profile else []),
                *(["--compare"] if args.compare else []),
                *(["--traffic"] if args.traffic else []),
                "--concurrency",
                str(concurrency),
                "--data-dir",
                str(tmp / "data"),
                "--audio",
                str(audio),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            raise SystemExit(f"{backend} child failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
        result = json.loads(line[-1][7:])
        for v in result.values():
            v["concurrency"] = concurrency
        return result
    finally:
        stop_group(server.proc)
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(
                "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
            ) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}_prefect" WITH (FORCE)')
                c.execute(f'DROP DATABASE IF EXISTS "{name}_catalog" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--n-whisper", type=int, default=20)
    ap.add_argument("--n-paced", type=int, default=50, help="recordings at the offered rate")
    ap.add_argument("--rate", type=float, default=5.0, help="offered load, recordings/s")
    ap.add_argument("--profile", default="", help="cProfile the burst's worker side to FILE")
    ap.add_argument(
        "--compare",
        action="store_true",
        help="also run the worker with engine-created runs, and without recflow events",
    )
    ap.add_argument(
        "--traffic",
        action="store_true",
        help="only bare and recflow/null, counting the client's requests and events per recording",
    )
    ap.add_argument("--concurrency", type=int, default=0)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--data-dir")
    ap.add_argument("--audio")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from tests.support import CANCEL_CALL, make_call

    audio = make_call(CANCEL_CALL[:2]).stereo
    rows = []
    for backend in args.backends.split(","):
        res = run_backend(backend, args, audio)
        base = res["bare"]["rate"]
        for mode, v in res.items():
            rows.append((backend, mode, v, v["rate"] / base))
    print(
        f"\npipeline benchmark ({os.cpu_count()} cores; audio {audio.name}, "
        f"{time.strftime('%Y-%m-%d')})\n"
    )
    print(
        "| backend | mode | conc | N | recordings/s | p50 s | p95 s | vs bare | lost | dup "
        "| one Completed run | other run states | CPU ms/rec worker | CPU ms/rec server |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, mode, v, ratio in rows:
        print(
            f"| {backend} | {mode} | {v['concurrency']} | {v['n']} | {v['rate']:.2f} "
            f"| {v['p50']:.2f} | {v['p95']:.2f} | {ratio:.2f} | {v['lost']} | {v['dup']} "
            f"| {v['one_completed']}/{v['n']} | {v['other_states'] or '-'} "
            f"| {v['cpu_ms_worker']:.0f} | {v['cpu_ms_server']:.0f} |"
        )
    if args.traffic:
        print("\n| backend | mode | requests/rec | events/rec | per recording |")
        print("|---|---|---|---|---|")
        for backend, mode, v, _ratio in rows:
            detail = ", ".join(f"{k} {n:g}" for k, n in v["traffic"].items())
            print(
                f"| {backend} | {mode} | {v['requests_per_rec']:.1f} "
                f"| {v['events_per_rec']:.1f} | {detail} |"
            )
    print(
        "\nbare = trivial async flow + 1 task called in-process at the same concurrency;"
        " recflow/null uses a benchmark-only null transcriber; p50/p95 = capture→processed."
    )


if __name__ == "__main__":
    main()
