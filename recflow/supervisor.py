"""`recflow up`: every part on one machine, as child processes of one supervisor.

Parts are separate processes (Prefect server, worker, recorder, portal) so that one part's CPU
spikes — transcription, a burst of RTP — never stall another, and so the same commands run the
parts on separate machines at scale. The supervisor restarts a part that dies (with back-off), and
on SIGINT/SIGTERM stops them all, newest first, leaving nothing running.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from recflow.environment import apply_defaults


@dataclass
class Part:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    health_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    log_path: Path | None = None

    def start(self, log_dir: Path) -> None:
        self.log_path = log_dir / f"{self.name}.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int):  # type: ignore[no-untyped-def]
    """preexec_fn: the child gets SIGTERM when the supervisor dies, even by SIGKILL (Linux
    prctl death signal), so no part outlives `recflow up` and answers a later one's health
    checks."""

    def setup() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: the supervisor's own stop() remains
            return
        if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return setup


# ---------------------------------------------------------------- refusing to start twice


class AlreadyInUse(Exception):
    """What `recflow up` needs is taken; the message names the holder."""


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold ``<data>/up.lock`` for the supervisor's life (released by the kernel even on
    SIGKILL). Raises AlreadyInUse naming the pid that holds it."""
    path = data_dir / "up.lock"
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise AlreadyInUse(
            f"data dir {data_dir} is in use by a running `recflow up` (pid {holder}); "
            "stop it first or use another --data-dir"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def port_holder(port: int, kind: str = "tcp") -> str:
    """Who listens on ``port`` (Linux /proc): "pid N (command line)" or "another process"."""
    inodes = set()
    for table in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                return f"pid {pid} ({cmd.strip()[:120]})"
    return "another process"


def check_ports(ports: list[tuple[str, str, int, str]]) -> None:
    """``(what, host, port, "tcp"|"udp")`` must all be free; raises AlreadyInUse naming the
    first taken port and its holder."""
    for what, host, port, kind in ports:
        sock = socket.socket(
            socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
        )
        try:
            if kind == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            raise AlreadyInUse(
                f"{what} port {kind} {host}:{port} is taken by {port_holder(port, kind)}"
            ) from None
        finally:
            sock.close()


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:
            pass
        time.sleep(0.5)
    return False


class Supervisor:
    def __init__(self, data_dir: Path, parts: list[Part], runtime: dict[str, object]) -> None:
        self.data_dir = data_dir
        self.parts = parts
        self.runtime = runtime
        self.log_dir = data_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = False

    @property
    def runtime_file(self) -> Path:
        return self.data_dir / "runtime.json"

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def run(self, on_ready: Callable[[str | None], None] = print) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            for part in self.parts:
                if self._stopping:
                    return 0
                part.start(self.log_dir)
                if part.health_url and not wait_http(part.health_url, 180, part.proc):
                    on_ready(f"error: {part.name} did not become healthy; see {part.log_path}")
                    return 1
            self.runtime["pids"] = {p.name: p.proc.pid for p in self.parts if p.proc}
            self.runtime_file.write_text(json.dumps(self.runtime, indent=2))
            on_ready(None)
            while not self._stopping:
                self._restart_dead()
                time.sleep(0.5)
            return 0
        finally:
            self.stop()

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for part in self.parts:
            if part.alive() or self._stopping:
                continue
            if part.next_start == 0.0:
                code = part.proc.returncode if part.proc else None
                delay = min(2**part.restarts, 30)
                print(
                    f"recflow: {part.name} exited ({code}); restarting in {delay}s "
                    f"(log: {part.log_path})",
                    file=sys.stderr,
                    flush=True,
                )
                part.next_start = now + delay
            elif now >= part.next_start:
                part.restarts += 1
                part.next_start = 0.0
                part.start(self.log_dir)

    def stop(self) -> None:
        for part in reversed(self.parts):
            if part.alive():
                assert part.proc is not None
                part.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for part in reversed(self.parts):
            if part.proc is None:
                continue
            try:
                part.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                part.proc.kill()
                part.proc.wait()
        self.runtime_file.unlink(missing_ok=True)


def prefect_server_part(data_dir: Path, port: int) -> Part:
    home = data_dir / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_API_URL": "",
    }
    db = os.environ.get("RECFLOW_PREFECT_DATABASE_URL")
    if db:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = db
    return Part(
        "prefect-server",
        [
            sys.executable,
            "-m",
            "recflow.prefect_server",  # `prefect server start` + IMMEDIATE SQLite writes
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui" if os.environ.get("RECFLOW_PREFECT_NO_UI") else "--ui",
        ],
        env=env,
        health_url=f"http://127.0.0.1:{port}/api/health",
    )


def recflow_part(
    name: str, *args: str, health_url: str | None = None, env: dict[str, str] | None = None
) -> Part:
    return Part(
        name, [sys.executable, "-m", "recflow", *args], env=env or {}, health_url=health_url
    )


apply_defaults()
