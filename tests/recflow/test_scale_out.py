"""Scale-out on an existing engine (docs/operations.md, "Several machines"): PostgreSQL for the
catalog and for Prefect, two Prefect API servers (`recflow prefect-server`) sharing that database
and Prefect's Redis messaging (prefect-redis), HAProxy in front of them, three `recflow worker`
processes. Mid-burst one worker and one API server are killed with SIGKILL: nothing is lost,
nothing is delivered twice, and every recording has exactly one Completed `process-recording`
run in Prefect and no other run.

Also (fast): the settings recflow derives for Prefect exist in the installed Prefect, and the
compose file and systemd units under deploy/ run the commands the CLI has."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.http import FakeHTTPServer, Request, Response
from tests.fakes.webhook import FakeWebhook
from tests.support import (
    CANCEL_CALL,
    RECFLOW,
    ROOT,
    child_env,
    cli,
    make_call,
    start_worker,
    stop_group,
    wait_until,
)

N_FIRST, N_SECOND = 18, 12  # ingested before / after the kills


# ---------------------------------------------------------------- fast: config and deploy files


def test_scale_out_settings_exist_in_this_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Prefect setting recflow derives from RECFLOW_PREFECT_REDIS_URL is one this Prefect
    reads, and each module it names imports: an upgrade that renames one fails here."""
    import importlib

    from prefect.settings import Settings
    from prefect_redis.client import RedisMessagingSettings

    from recflow.prefect_server import server_environment

    env = server_environment(
        {
            "RECFLOW_PREFECT_REDIS_URL": "redis://127.0.0.1:6379/3",
            "RECFLOW_PREFECT_DATABASE_URL": "postgresql+asyncpg://u@db/prefect",
        }
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.server.events.messaging_broker == "prefect_redis.messaging"
    assert s.server.events.messaging_cache == "prefect_redis.messaging"
    assert s.server.events.causal_ordering == "prefect_redis.ordering"
    assert s.server.concurrency.lease_storage == "prefect_redis.lease_storage"
    assert s.server.docket.url == "redis://127.0.0.1:6379/3"
    assert s.server.database.connection_url.get_secret_value().endswith("@db/prefect")
    assert RedisMessagingSettings().url == "redis://127.0.0.1:6379/3"
    for module in {v for v in env.values() if v.startswith("prefect_redis.")}:
        importlib.import_module(module)
    # explicit Prefect settings win over the derived ones
    mine = server_environment(
        {"RECFLOW_PREFECT_REDIS_URL": "redis://r/1", "PREFECT_SERVER_DOCKET_URL": "redis://d/2"}
    )
    assert "PREFECT_SERVER_DOCKET_URL" not in mine and "PREFECT_MESSAGING_BROKER" in mine


def test_a_bad_redis_url_is_refused_by_the_command(tmp_path: Path) -> None:
    env = child_env(tmp_path / "data", RECFLOW_PREFECT_REDIS_URL="localhost:6379")
    r = cli(env, "prefect-server", "--port", "1", check=False)
    assert r.returncode == 2 and "RECFLOW_PREFECT_REDIS_URL" in r.stderr


def _cli_commands() -> set[str]:
    out = subprocess.run([RECFLOW, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"^│ (\S+)\s", out, re.M))


def test_compose_file_and_units_run_commands_the_cli_has() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    commands = _cli_commands()
    assert {"up", "worker", "prefect-server", "recorder", "portal"} <= commands
    used = set()
    for name, svc in services.items():
        cmd = svc.get("command")
        if isinstance(cmd, list) and cmd[:1] == ["recflow"]:
            assert cmd[1] in commands, (name, cmd)
            used.add(cmd[1])
    assert {"worker", "prefect-server", "recorder", "portal"} <= used
    # the layout of the test below: PostgreSQL, Redis, two API servers behind a balancer
    assert {"postgres", "redis", "prefect-api-1", "prefect-api-2", "prefect-lb"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] >= 2
    for svc in ("prefect-api-1", "prefect-api-2"):
        assert "RECFLOW_PREFECT_REDIS_URL" in services[svc]["environment"]
    assert "prefect-lb" in services["worker"]["environment"]["PREFECT_API_URL"]
    units = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {
        "recflow-prefect-server.service",
        "recflow-worker@.service",
        "recflow-recorder.service",
        "recflow-portal.service",
    }
    for unit in units:
        text = unit.read_text()
        (execstart,) = re.findall(r"^ExecStart=(.+)$", text, re.M)
        binary, command = execstart.split()[:2]
        assert binary.endswith("/recflow") and command in commands, (unit.name, execstart)
        assert "EnvironmentFile=" in text
    haproxy = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /api/health" in haproxy


# ---------------------------------------------------------------- slow: the layout under kill -9


class FakeTranscriber(FakeHTTPServer):
    """An OpenAI-compatible transcription endpoint (the `openai_transcribe` connector's wire
    shape): one short segment per channel, no model, no CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

        @self.route("POST", r"/v1/audio/transcriptions")
        def transcribe(_req: Request, _m: Any) -> Response:
            with self.lock:
                self.calls += 1
            return Response(
                200,
                json={
                    "text": "cancel my subscription",
                    "language": "en",
                    "segments": [{"start": 0.1, "end": 1.0, "text": "cancel my subscription"}],
                },
            )


def _rows(catalog_db: str) -> list[tuple[str, str, int, str | None]]:
    from tests.support.scale import pg_connect

    with pg_connect(catalog_db) as conn:
        return list(conn.execute("SELECT id, status, attempt, claimed_by FROM recordings"))


def _failures(catalog_db: str) -> list[tuple[str, int, str | None]]:
    """(id, attempt, error) of each failed recording: what to read when the test fails."""
    from tests.support.scale import pg_connect

    with pg_connect(catalog_db) as conn:
        sql = "SELECT id, attempt, error FROM recordings WHERE status = 'failed'"
        return list(conn.execute(sql))


def _processing_span(catalog_db: str) -> float:
    """Seconds from the first recording processed to the last (catalog timestamps)."""
    from tests.support.scale import pg_connect

    with pg_connect(catalog_db) as conn:
        first, last = conn.execute(
            "SELECT min(processed_at), max(processed_at) FROM recordings"
        ).fetchone()
    return float((last - first).total_seconds())


def _catalog_counts(catalog_db: str) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    from tests.support.scale import pg_connect

    with pg_connect(catalog_db) as conn:
        transcripts = Counter(
            r[0]
            for r in conn.execute(
                "SELECT recording_id FROM transcripts WHERE segments::text <> '[]'"
            )
        )
        deliveries = Counter(
            (r[0], r[1]) for r in conn.execute("SELECT subject_id, status FROM deliveries")
        )
    return transcripts, deliveries


async def _flow_runs(api_url: str) -> list[tuple[str, Any]]:
    """Every flow run in Prefect, with its flow's name."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            flows = {f.id: f.name for f in await client.read_flows(limit=200)}
            out: list[Any] = []
            while batch := await client.read_flow_runs(limit=200, offset=len(out)):
                out += batch
            return [(flows.get(r.flow_id, "?"), r) for r in out]


def _ingest(env: dict[str, str], audio: Path, n: int) -> list[str]:
    out = cli(env, "ingest", *[str(audio)] * n, "--from", "+15550020", "--to", "+15550021")
    ids = out.stdout.split()
    assert len(ids) == n, out.stdout
    return ids


@pytest.mark.slow
@pytest.mark.postgres
def test_two_api_servers_three_workers_survive_kill9_mid_burst(tmp_path: Path) -> None:
    from tests.support.scale import (
        ApiServer,
        LoadBalancer,
        missing_peers,
        pg_databases,
        pg_url,
        redis_database,
    )

    why = missing_peers()
    if why:
        pytest.skip(why)
    procs: list[Any] = []
    with (
        pg_databases("catalog", "prefect") as dbs,
        redis_database() as redis_url,
        FakeWebhook() as hook,
        FakeTranscriber() as stt,
    ):
        base = child_env(
            tmp_path / "data",  # on several machines: a shared filesystem (docs/operations.md)
            RECFLOW_DATABASE_URL=pg_url(dbs["catalog"], "psycopg"),
            RECFLOW_PREFECT_DATABASE_URL=pg_url(dbs["prefect"], "asyncpg"),
            RECFLOW_PREFECT_REDIS_URL=redis_url,
        )
        servers = [ApiServer(tmp_path / "prefect", name, base) for name in ("api-a", "api-b")]
        lb = LoadBalancer(tmp_path / "lb", servers)
        procs += [*servers, lb]
        try:
            # the first server migrates the empty database; the second starts on a migrated one
            t_start = time.monotonic()
            servers[0].start()
            env = {
                **base,
                "PREFECT_API_URL": lb.api_url,
                "RECFLOW_WORKER_LEASE_SECONDS": "4",
                "RECFLOW_DISPATCH_INTERVAL_SECONDS": "0.5",
            }
            config = tmp_path / "recflow.yaml"
            config.write_text(
                "connectors:\n"
                f"  - {{name: stt, kind: openai_transcribe, config: {{base_url: '{stt.url}'}}}}\n"
                f"  - {{name: hook, kind: webhook, config: {{url: '{hook.hook_url}'}}, on: every_call}}\n"
                "transcription: {connector: stt}\n"
            )
            cli(env, "config", "apply", str(config))  # migrates the catalog meanwhile
            servers[0].wait_healthy()
            servers[1].start()
            lb.start()
            workers = [start_worker(env, tmp_path / f"worker{i}.log") for i in range(3)]
            procs += workers
            audio = make_call(CANCEL_CALL[:1]).stereo

            t0 = time.monotonic()
            started = t0 - t_start
            rids = _ingest(env, audio, N_FIRST)

            # mid-burst: some processed, a worker holding claims, more still waiting
            def victim() -> subprocess.Popen[bytes] | None:
                rows = _rows(dbs["catalog"])
                done = sum(s == "processed" for _, s, _, _ in rows)
                if done == len(rids):  # a fast machine finished the batch between two looks
                    rids.extend(_ingest(env, audio, 6))
                if done < 4:
                    return None
                holders = {c.split(":")[1] for _, s, _, c in rows if s == "processing" and c}
                return next((w for w in workers if str(w.pid) in holders), None)

            killed_worker = wait_until(victim, 240, 0.2, "a worker holding claims mid-burst")
            servers[1].wait_healthy()  # (long since, in practice) the survivor is serving
            os.killpg(killed_worker.pid, signal.SIGKILL)
            os.killpg(servers[0].proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
            killed_worker.wait()
            servers[0].proc.wait()  # type: ignore[union-attr]
            t_kill = time.monotonic()
            state_at_kill = Counter(s for _, s, _, _ in _rows(dbs["catalog"]))
            rids += _ingest(env, audio, N_SECOND)

            def all_done() -> bool:
                rows = _rows(dbs["catalog"])
                failed = [r for r in rows if r[1] == "failed"]
                assert not failed, _failures(dbs["catalog"])
                return len(rows) == len(rids) and all(s == "processed" for _, s, _, _ in rows)

            wait_until(all_done, 300, 0.5, "every recording processed")
            t_end = time.monotonic()
            span = _processing_span(dbs["catalog"])
            rows = {r[0]: r for r in _rows(dbs["catalog"])}
            transcripts, deliveries = _catalog_counts(dbs["catalog"])

            # Prefect converges: live workers report their last runs' final states, and runs
            # the killed worker left Running after finishing their recording are settled by the
            # others a lease later (flows.dispatch.settle_abandoned_runs)
            def settled() -> list[tuple[str, Any]] | None:
                runs = asyncio.run(_flow_runs(lb.api_url))  # through the surviving server
                mine = [r for flow, r in runs if flow == "process-recording"]
                return runs if all(r.state.is_final() for r in mine) else None

            try:
                runs = wait_until(settled, 120, 1, "every process-recording run final")
            except TimeoutError:
                runs = asyncio.run(_flow_runs(lb.api_url))  # the assertions below show which
            t_settled = time.monotonic()
            # Prefect's messaging really went through Redis (events, task-run recorder streams)
            import redis

            r = redis.Redis.from_url(redis_url)
            streams = [k for k in r.scan_iter(count=1000) if r.type(k) == b"stream"]
            r.close()
        finally:
            for p in reversed(procs):
                stop_group(p) if isinstance(p, subprocess.Popen) else p.stop()
            if os.environ.get("RECFLOW_TEST_SHOW_LOGS"):
                print(servers[0].log_tail(), servers[1].log_tail())

    for server in servers:
        assert "Prefect messaging through Redis" in server.log_tail(10**6)
    assert streams, "no Redis stream: the API servers did not use prefect-redis messaging"
    # 0 lost: every ingested recording processed, transcribed and delivered
    assert sorted(rows) == sorted(rids)
    assert all(transcripts[rid] == 1 for rid in rids), transcripts
    assert all(deliveries[(rid, "succeeded")] == 1 for rid in rids), deliveries
    assert sum(deliveries.values()) == len(rids), deliveries
    # 0 duplicated: a recording processed in one attempt reached the webhook once; one handed
    # out again after the kill may have been re-sent (same idempotency key, for the receiver)
    sent = Counter(r.headers["idempotency-key"] for r in hook.received)
    keys = {rid: f"{rid}:hook:every_call" for rid in rids}
    assert set(sent) == set(keys.values()), sent
    retried = {rid for rid in rids if rows[rid][2] > 0}
    assert all(sent[keys[rid]] == 1 for rid in rids if rid not in retried), sent
    # one Completed process-recording run per recording and nothing else in Prefect
    by_recording: dict[str, list[str]] = {}
    others: Counter[tuple[str, str]] = Counter()
    for flow, run in runs:
        if flow != "process-recording":  # e.g. the retention deployment's scheduled runs
            others[(flow, run.state.type.value)] += 1
            continue
        rid = run.parameters.get("recording_id")
        assert rid in rows, (run.name, run.parameters)
        by_recording.setdefault(rid, []).append(run.state.type.value)
    assert {rid: sorted(states) for rid, states in by_recording.items()} == {
        rid: ["COMPLETED"] for rid in rids
    }
    assert not any(state in ("FAILED", "CRASHED") for _, state in others), others
    states = Counter(s for ss in by_recording.values() for s in ss)
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("worker*.log"))
    print(
        f"\nscale-out: {len(rids)} recordings, 2 API servers (1 killed), 3 workers (1 killed)\n"
        f"| start-up: 2 API servers, balancer, config apply | {started:.1f} s |\n"
        f"| catalog at the kill | {dict(state_at_kill)} |\n"
        f"| first ingest → all processed (incl. worker start-up) | {t_end - t0:.1f} s |\n"
        f"| kill → all processed (incl. {env['RECFLOW_WORKER_LEASE_SECONDS']} s lease) | {t_end - t_kill:.1f} s |\n"
        f"| all processed → every run final in Prefect | {t_settled - t_end:.1f} s |\n"
        f"| rate, first → last processed | {(len(rids) - 1) / span:.2f} recordings/s |\n"
        f"| handed out again (attempt > 0) | {len(retried)} |\n"
        f"| runs of lost attempts removed / left Running and settled | "
        f"{logs.count('removed flow run')} / {logs.count('by a dead worker, marked')} |\n"
        f"| webhook POSTs / re-sent | {len(hook.received)} / {len(hook.received) - len(rids)} |\n"
        f"| transcription requests | {stt.calls} |\n"
        f"| process-recording runs by state | {dict(states)} |\n"
        f"| other flow runs | {dict(others)} |"
    )
