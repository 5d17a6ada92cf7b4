"""Prefect tells the truth about a recording: a failed every-call delivery leaves the recording
`failed` and its run FAILED with the reason (not processed, not Completed); a retry that succeeds
makes it processed with one new Completed run. Events, the deliveries artifact and the run's INFO
logs are readable through Prefect's API. Real worker process, real Prefect server, real HTTP."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

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


class Endpoint:
    """A webhook receiver on a free loopback port answering ``status``."""

    def __init__(self) -> None:
        self.status = 400
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits += 1
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def status(env: dict[str, str], rid: str) -> dict[str, Any]:
    return json.loads(cli(env, "recordings", "show", rid, "--json").stdout)  # type: ignore[no-any-return]


def api(api_url: str, path: str, body: dict[str, Any]) -> Any:
    r = httpx.post(f"{api_url}{path}", json=body, timeout=30)
    r.raise_for_status()
    return r.json()


def runs_of(api_url: str, rid: str) -> list[dict[str, Any]]:
    runs = api(api_url, "/flow_runs/filter", {"limit": 200})
    return [r for r in runs if (r.get("parameters") or {}).get("recording_id") == rid]


def events_of(api_url: str, rid: str) -> list[str]:
    body = {
        "filter": {
            "resource": {"id": [f"recflow.recording.{rid}"]},
            "event": {"prefix": ["recflow."]},
        },
        "limit": 50,
    }
    return [e["event"] for e in api(api_url, "/events/filter", body).get("events", [])]


def test_failed_delivery_is_visible_then_a_retry_completes(tmp_path: Path, prefect_server):
    hook = Endpoint()
    env = child_env(tmp_path / "data", PREFECT_API_URL=prefect_server.api_url)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "account:\n  features:\n    transcription: false\n"
        "connectors:\n"
        f"  - name: hook\n    kind: webhook\n    config: {{url: '{hook.url}'}}\n    on: every_call\n"
    )
    cli(env, "config", "apply", str(cfg))
    rid = cli(
        env,
        "ingest",
        str(make_call(CANCEL_CALL[:1]).stereo),
        "--from",
        "+15550101",
        "--to",
        "+15550102",
    ).stdout.strip()
    worker = start_worker(env, tmp_path / "w.log")
    try:
        failed = wait_until(
            lambda: (s := status(env, rid))["status"] == "failed" and s, 180, 0.5, "failed"
        )
        assert "hook" in failed["error"] and "400" in failed["error"], failed["error"]
        wait_until(
            lambda: [r["state_type"] for r in runs_of(prefect_server.api_url, rid)] == ["FAILED"],
            60,
            0.5,
            "run FAILED",
        )
        (run,) = runs_of(prefect_server.api_url, rid)
        assert "hook" in (run["state"]["message"] or ""), run["state"]
        assert run["name"] == f"recording-{rid}"
        wait_until(
            lambda: "recflow.delivery.failed" in events_of(prefect_server.api_url, rid),
            60,
            1,
            "event",
        )
        arts = api(
            prefect_server.api_url,
            "/artifacts/filter",
            {"artifacts": {"key": {"any_": [f"deliveries-{rid}"]}}},
        )
        assert arts and arts[0]["type"] == "table" and "failed" in json.dumps(arts[0]["data"])

        hook.status = 200
        cli(env, "recordings", "retry", rid)
        done = wait_until(
            lambda: (s := status(env, rid))["status"] == "processed" and s, 180, 0.5, "processed"
        )
        assert done["attempt"] == 1
        wait_until(
            lambda: (
                sorted(r["state_type"] for r in runs_of(prefect_server.api_url, rid))
                == ["COMPLETED", "FAILED"]
            ),
            60,
            0.5,
            "one new Completed run",
        )
        wait_until(
            lambda: "recflow.recording.processed" in events_of(prefect_server.api_url, rid),
            60,
            1,
            "event",
        )
        completed = next(
            r for r in runs_of(prefect_server.api_url, rid) if r["state_type"] == "COMPLETED"
        )

        def run_logs() -> list[str]:
            logs = api(
                prefect_server.api_url,
                "/logs/filter",
                {"logs": {"flow_run_id": {"any_": [completed["id"]]}}},
            )
            return [entry["message"] for entry in logs]

        # the run's own INFO line reached Prefect (logs are no longer cut at WARNING)
        wait_until(
            lambda: any(f"recording {rid} processed" in m for m in run_logs()), 60, 1, "run logs"
        )
        assert not any("+1555" in m for m in run_logs()), "no phone numbers in Prefect"
    finally:
        stop_group(worker)
        hook.close()
    assert hook.hits == 2, "one failed POST, one successful POST on retry"
