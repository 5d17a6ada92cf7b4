"""Every CLI command says which data dir it uses when it is not the running system's: another
`recflow up` runs on another data dir, or none runs and the command is about to create a fresh
one (a `config apply` in the wrong directory used to succeed silently on a catalog nobody uses).
Real `recflow` processes; the running systems are real processes registered by `recflow up`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support import child_env, cli

NOTICE = "recflow: using data dir"


def notice(r: subprocess.CompletedProcess[str]) -> str:
    return next((line for line in r.stderr.splitlines() if line.startswith(NOTICE)), "")


def test_notice_names_the_running_system(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = child_env(tmp_path / "unused", RECFLOW_RUN_DIR=str(run), RECFLOW_DATA_DIR_NOTICE="1")
    fresh, elsewhere = tmp_path / "fresh", tmp_path / "system"

    # none running: a command that would create a data dir says so; an existing one is quiet
    r = cli(env, "recordings", "list", "--data-dir", str(fresh))
    assert notice(r) == f"{NOTICE} {fresh} (no recflow running; it does not exist yet)"
    assert notice(cli(env, "recordings", "list", "--data-dir", str(fresh))) == ""

    # a running system (this test process stands in for a live `recflow up`) on another dir
    run.mkdir()
    (run / f"up-{os.getpid()}.json").write_text(
        json.dumps({"pid": os.getpid(), "data_dir": str(elsewhere)})
    )
    # and one that was killed: its record is ignored and removed
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = run / f"up-{dead.pid}.json"
    stale.write_text(json.dumps({"pid": dead.pid, "data_dir": "/nowhere"}))

    r = cli(env, "config", "export", "--data-dir", str(fresh))
    assert notice(r) == f"{NOTICE} {fresh} (the running system uses {elsewhere})"
    assert r.stdout.strip(), "the notice goes to stderr; stdout stays the command's"
    assert not stale.exists()
    # RECFLOW_DATA_DIR counts like --data-dir; the running system's own dir is quiet
    env_fresh = {**env, "RECFLOW_DATA_DIR": str(fresh)}
    assert notice(cli(env_fresh, "recordings", "list")) == (
        f"{NOTICE} {fresh} (the running system uses {elsewhere})"
    )
    assert notice(cli(env, "recordings", "list", "--data-dir", str(elsewhere))) == ""
    # --help touches no data dir
    assert notice(cli(env, "recordings", "list", "--help")) == ""


def test_recflow_up_registers_its_data_dir(stack) -> None:  # type: ignore[no-untyped-def]
    """A real `recflow up`: commands on its data dir are quiet, others name it."""
    env = {k: v for k, v in stack.env.items() if k != "RECFLOW_DATA_DIR"}
    env["RECFLOW_DATA_DIR_NOTICE"] = "1"
    assert notice(cli(env, "recordings", "list", "--data-dir", str(stack.data))) == ""
    other = stack.data.parent / "not-the-system"
    r = cli(env, "recordings", "list", "--data-dir", str(other))
    assert notice(r) == f"{NOTICE} {other} (the running system uses {stack.data.resolve()})"
