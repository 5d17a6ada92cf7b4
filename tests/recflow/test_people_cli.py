"""`recflow users disable|enable|role|groups|reset-2fa|reset-password` through the real CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

RECFLOW = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "recflow"


def test_people_commands(tmp_path):
    env = {**os.environ, "RECFLOW_DATA_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RECFLOW), *args], env=env, capture_output=True, text=True, timeout=120
        )

    assert run("users", "create", "boss@example.com", "--role", "admin").returncode == 0
    assert run("users", "create", "ann@example.com").returncode == 0
    r = run("users", "disable", "ann@example.com")
    assert r.returncode == 0
    lines = {ln.split()[0]: ln for ln in run("users", "list").stdout.splitlines()}
    assert "disabled" in lines["ann@example.com"] and "disabled" not in lines["boss@example.com"]
    assert run("users", "enable", "ann@example.com").returncode == 0
    assert "disabled" not in run("users", "list").stdout
    assert (
        run("users", "role", "ann@example.com", "supervisor").stdout.strip().endswith("supervisor")
    )
    r = run("users", "disable", "boss@example.com")
    assert r.returncode == 1 and "last enabled administrator" in r.stderr
    r = run("users", "groups", "ann@example.com", "nope")
    assert r.returncode == 1 and "no such group" in r.stderr
    assert run("users", "reset-2fa", "ann@example.com").stdout.startswith("totp: otpauth://")
    assert (
        len(run("users", "reset-password", "ann@example.com").stdout.split(": ")[1].strip()) >= 12
    )
