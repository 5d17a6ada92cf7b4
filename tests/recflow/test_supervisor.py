"""Process hygiene of `recflow up`: children die with the supervisor (even SIGKILL), a second
`recflow up` on the same data dir or ports is refused, naming who holds them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recflow.supervisor import AlreadyInUse, check_ports, lock_data_dir
from tests.support import child_env, cli, free_port, wait_until


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_children_die_when_the_supervisor_is_killed(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from recflow.supervisor import Part
        part = Part("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"])
        part.start(Path({str(tmp_path)!r}))
        print(part.proc.pid, flush=True)
        time.sleep(600)
        """
    )
    sup = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    child = int(sup.stdout.readline())  # type: ignore[union-attr]
    assert not _gone(child)
    sup.send_signal(signal.SIGKILL)
    sup.wait()
    wait_until(lambda: _gone(child), 30, 0.1, "child gone after the supervisor was killed")


def test_a_taken_port_is_refused_naming_its_holder():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(AlreadyInUse) as e:
            check_ports([("portal", "127.0.0.1", port, "tcp")])
    assert f"127.0.0.1:{port}" in str(e.value) and f"pid {os.getpid()}" in str(e.value)
    check_ports([("portal", "127.0.0.1", port, "tcp")])  # free again


def test_a_data_dir_in_use_is_refused_naming_the_supervisor(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from recflow.supervisor import "
            f"lock_data_dir; f = lock_data_dir(Path({str(tmp_path)!r})); print('ok', flush=True);"
            " time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"  # type: ignore[union-attr]
        with pytest.raises(AlreadyInUse, match=f"pid {holder.pid}"):
            lock_data_dir(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    lock_data_dir(tmp_path).close()  # released by the kernel when its holder died


def test_recflow_up_refuses_a_taken_portal_port(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = cli(
            child_env(tmp_path / "data"),
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--portal-port",
            str(port),
            "--sip-port",
            str(free_port(socket.SOCK_DGRAM)),
            "--prefect-port",
            str(free_port()),
            "--bind",
            "127.0.0.1",
            check=False,
        )
    assert r.returncode == 1
    assert f"portal port tcp 127.0.0.1:{port} is taken by pid {os.getpid()}" in r.stderr
    assert "Traceback" not in r.stderr
