"""Peers of the scale-out layout for tests: throwaway PostgreSQL databases, a Redis database of
its own, Prefect API servers started as `recflow prefect-server`, and HAProxy (Debian's
`haproxy`, installed by scripts/setup) as the loopback load balancer in front of them.

Everything binds 127.0.0.1 and is removed afterwards (databases dropped, Redis db flushed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import RECFLOW, free_port, http_ok, stop_group, wait_until

PG_ADMIN_URL = os.environ.get(
    "RECFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
_MARKER = "recflow:test:scale-out:owner"


def haproxy() -> str | None:
    """The haproxy binary (Debian puts it in /usr/sbin, which a user's PATH may lack)."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def missing_peers() -> str | None:
    """Why the scale-out layout cannot run here, or None."""
    if haproxy() is None:
        return "haproxy is not installed (scripts/setup installs Debian's haproxy)"
    try:
        import prefect_redis  # noqa: F401
    except ImportError:
        return "prefect-redis is not installed (pip install -e .)"
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            pass
    except Exception as e:
        return f"PostgreSQL is not reachable on 127.0.0.1:5432 ({e}); .ci/run starts it"
    try:
        import redis

        redis.Redis(REDIS_HOST, REDIS_PORT, socket_connect_timeout=3).ping()
    except Exception as e:
        return f"Redis is not reachable on 127.0.0.1:6379 ({e}); .ci/run starts it"
    return None


@contextmanager
def pg_databases(*purposes: str) -> Iterator[dict[str, str]]:
    """One fresh database per purpose; yields purpose -> database name. Dropped afterwards
    (WITH (FORCE): a killed server may leave connections behind)."""
    import psycopg

    admin = PG_ADMIN_URL.replace("+psycopg", "")
    tag = uuid.uuid4().hex[:8]
    names = {p: f"recflow_scale_{p}_{tag}" for p in purposes}
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield names
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str, driver: str) -> str:
    """URL of database ``name`` on the test server for ``driver`` (psycopg, asyncpg)."""
    return PG_ADMIN_URL.rsplit("/", 1)[0].replace("+psycopg", f"+{driver}") + f"/{name}"


def pg_connect(name: str):  # type: ignore[no-untyped-def]
    """A psycopg connection to database ``name`` (for reading what the parts wrote)."""
    import psycopg

    return psycopg.connect(pg_url(name, "psycopg").replace("+psycopg", ""))


@contextmanager
def redis_database() -> Iterator[str]:
    """A Redis database number nobody uses (empty, then claimed with a marker key; other
    sessions on this Redis skip it); yields its URL and flushes it afterwards."""
    import redis

    for db in range(15, 0, -1):
        r = redis.Redis(REDIS_HOST, REDIS_PORT, db=db)
        if r.dbsize() == 0 and r.set(_MARKER, str(os.getpid()), nx=True):
            break
    else:
        raise RuntimeError("no empty Redis database (1-15) on 127.0.0.1:6379")
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    finally:
        r.flushdb()
        r.close()


class ApiServer:
    """One `recflow prefect-server` (the product command) in its own process group."""

    def __init__(self, home: Path, name: str, env: dict[str, str]) -> None:
        self.home = home / name
        self.name = name
        self.port = free_port()
        self.env = {**env, "PREFECT_HOME": str(self.home)}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        self.home.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [RECFLOW, "prefect-server", "--host", "127.0.0.1", "--port", str(self.port), "--no-ui"],
            env=self.env,
            stdout=open(self.home / "server.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_healthy(self, timeout: float = 180) -> ApiServer:
        def healthy() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log_tail()}")
            return http_ok(f"{self.url}/api/health")

        wait_until(healthy, timeout, 0.5, f"{self.name} health")
        return self

    def log_tail(self, n: int = 4000) -> str:
        path = self.home / "server.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def stop(self) -> None:
        stop_group(self.proc)


HAPROXY_CFG = """\
# the loopback load balancer of tests/recflow/test_scale_out.py (what docs/operations.md and
# deploy/haproxy.cfg describe, on free ports)
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    timeout tunnel 1h          # the clients' event websockets
    retries 3
    option redispatch          # a retried connection may go to the other server
    retry-on conn-failure empty-response
frontend prefect_api
    bind 127.0.0.1:{port}
    default_backend prefect_servers
backend prefect_servers
    balance roundrobin
    option httpchk GET /api/health
    default-server inter 1s fall 2 rise 1
{servers}
"""


class LoadBalancer:
    """HAProxy, round robin over the API servers with health checks and failover."""

    def __init__(self, home: Path, backends: list[ApiServer]) -> None:
        self.home = home
        self.port = free_port()
        self.backends = backends
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> LoadBalancer:
        self.home.mkdir(parents=True, exist_ok=True)
        cfg = self.home / "haproxy.cfg"
        servers = "\n".join(f"    server {b.name} 127.0.0.1:{b.port} check" for b in self.backends)
        cfg.write_text(HAPROXY_CFG.format(port=self.port, servers=servers))
        binary = haproxy() or "haproxy"
        subprocess.run([binary, "-c", "-q", "-f", str(cfg)], check=True)
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(cfg)],  # -db: stay in the foreground
            stdout=open(self.home / "haproxy.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self) -> None:
        stop_group(self.proc)
