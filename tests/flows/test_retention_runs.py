"""Retention deletes a recording's Prefect runs too: once `recflow retention run` (the CLI) or
the `retention` flow deletes a recording, its `process-recording` runs, their logs and their
deliveries artifact are gone from Prefect's API; the runs of recordings it kept stay. Real
worker process, real Prefect server, real webhook."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.flows.test_process_recording import Endpoint, api, status
from tests.support import (
    CANCEL_CALL,
    child_env,
    cli,
    make_call,
    start_worker,
    stop_group,
    wait_until,
)

pytestmark = pytest.mark.slow


def runs_named(api_url: str, rid: str) -> list[dict[str, Any]]:
    body = {"flow_runs": {"name": {"any_": [f"recording-{rid}"]}}, "limit": 50}
    return api(api_url, "/flow_runs/filter", body)  # type: ignore[no-any-return]


def artifacts_of(api_url: str, rid: str) -> list[dict[str, Any]]:
    body = {"artifacts": {"key": {"any_": [f"deliveries-{rid}"]}}}
    return api(api_url, "/artifacts/filter", body)  # type: ignore[no-any-return]


def logs_of(api_url: str, run_ids: list[str]) -> list[dict[str, Any]]:
    return api(api_url, "/logs/filter", {"logs": {"flow_run_id": {"any_": run_ids}}})  # type: ignore[no-any-return]


def test_retention_removes_the_runs_of_what_it_deleted(tmp_path: Path, prefect_server) -> None:  # type: ignore[no-untyped-def]
    url = prefect_server.api_url
    hook = Endpoint()
    hook.status = 200
    env = child_env(tmp_path / "data", PREFECT_API_URL=url)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "account:\n  features:\n    transcription: false\n"
        "connectors:\n"
        f"  - name: hook\n    kind: webhook\n    config: {{url: '{hook.url}'}}\n    on: every_call\n"
        "retention:\n  default_days: 30\n"
    )
    cli(env, "config", "apply", str(cfg))
    wav = str(make_call(CANCEL_CALL[:1]).stereo)
    old = (datetime.now(UTC) - timedelta(days=90)).isoformat()

    def ingest(start: str | None) -> str:
        extra = ["--start", start] if start else []
        return cli(
            env, "ingest", wav, "--from", "+15550101", "--to", "+15550102", *extra
        ).stdout.strip()

    by_cli, by_flow, kept = ingest(old), ingest(old), ingest(None)
    worker = start_worker(env, tmp_path / "w.log")
    try:
        for rid in (by_cli, by_flow, kept):
            wait_until(lambda rid=rid: status(env, rid)["status"] == "processed", 180, 0.5, rid)
            wait_until(
                lambda rid=rid: [r["state_type"] for r in runs_named(url, rid)] == ["COMPLETED"],
                60,
                0.5,
                f"Completed run of {rid}",
            )
            wait_until(lambda rid=rid: artifacts_of(url, rid), 60, 0.5, f"artifact of {rid}")
        cli_runs = [r["id"] for r in runs_named(url, by_cli)]
        wait_until(lambda: logs_of(url, cli_runs), 60, 1, "run logs")

        # the CLI deletes one expired recording (the other is on hold)
        cli(env, "retention", "hold", by_flow, "--reason", "case 42")
        out = cli(env, "retention", "run", "--yes").stdout
        assert "deleted 1 recording(s)" in out and "1 Prefect flow run(s) removed" in out, out
        assert runs_named(url, by_cli) == [] and artifacts_of(url, by_cli) == []
        wait_until(lambda: logs_of(url, cli_runs) == [], 60, 1, "logs of the deleted run gone")
        assert len(runs_named(url, by_flow)) == 1 and len(runs_named(url, kept)) == 1

        # the nightly flow deletes the other once its hold is released
        cli(env, "retention", "release", by_flow)
        code = (
            "import asyncio; from flows.archive import retention_flow; "
            "print(asyncio.run(retention_flow())['runs_removed'])"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-1] == "1", done.stdout
        assert runs_named(url, by_flow) == [] and artifacts_of(url, by_flow) == []
        assert [r["state_type"] for r in runs_named(url, kept)] == ["COMPLETED"]
        assert len(artifacts_of(url, kept)) == 1
    finally:
        stop_group(worker)
        hook.close()
