"""Connector framework throughput and overhead.

    .venv/bin/python benchmarks/connectors_bench.py [--recordings 20] [--prefect]

A batch of recordings, each delivered to 4 every-call connectors (Slack, HubSpot, Google Sheets,
webhook) against the local wire-level fakes in tests/fakes. Measures:

- deliveries/s through ``deliver_every_call`` (templates, payload storage, delivery log on a
  SQLite catalog, secrets decryption, the official SDKs); with ``--prefect`` inside a real
  Prefect flow (temporary local server via prefect_test_harness; one task per delivery);
- the same number of calls made directly with the SDKs (no framework), same fakes, same run;
- the ratio framework / direct.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def make_recordings(n: int):  # type: ignore[no-untyped-def]
    from catalog.models import Direction, Recording, Speaker, Transcript, TranscriptSegment

    out = []
    for i in range(n):
        rec = Recording(
            from_number=f"+1415555{i:04d}",
            to_number="+14155550000",
            direction=Direction.inbound,
            duration_seconds=60 + i,
            started_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
        tr = Transcript(
            recording_id=rec.id,
            segments=[
                TranscriptSegment(
                    speaker=Speaker.caller,
                    channel=0,
                    start=0,
                    end=2,
                    text="Hello, I would like to cancel my subscription please.",
                ),
                TranscriptSegment(
                    speaker=Speaker.callee,
                    channel=1,
                    start=2,
                    end=4,
                    text="Sure, let me look up your account.",
                ),
            ],
        )
        out.append((rec, tr))
    return out


def direct_calls(n: int, slack, hub, sheets, hook) -> float:  # type: ignore[no-untyped-def]
    """The same four calls per recording, straight through the SDKs."""
    import gspread
    import httpx
    from hubspot import HubSpot
    from hubspot.crm.objects.calls import SimplePublicObjectInputForCreate
    from slack_sdk import WebClient

    from connectors.gsheets import _TokenSession

    t0 = time.perf_counter()
    sc = WebClient(token=slack.token, base_url=slack.api_url)
    hc = HubSpot(access_token=hub.token, host=hub.url)
    sess = _TokenSession()
    sess._base = sheets.url
    sess.headers["Authorization"] = f"Bearer {sheets.token}"
    ws = gspread.Client(auth=None, session=sess).open_by_key(sheets.spreadsheet_id).sheet1
    with httpx.Client(trust_env=False) as http:
        for i in range(n):
            sc.chat_postMessage(channel="#c", text=f"call {i}")
            hc.crm.objects.calls.basic_api.create(
                SimplePublicObjectInputForCreate(
                    properties={"hs_timestamp": "2024-01-01T00:00:00Z", "hs_call_body": f"call {i}"}
                )
            )
            ws.append_rows([[f"k{i}", "x"]], value_input_option="RAW")
            http.post(hook.hook_url, json={"call": i})
    return time.perf_counter() - t0


async def framework(batch, catalog, use_prefect: bool) -> float:  # type: ignore[no-untyped-def]
    from services.deliveries import deliver_every_call

    if not use_prefect:
        t0 = time.perf_counter()
        for rec, tr in batch:
            await deliver_every_call(rec, tr)
        return time.perf_counter() - t0

    from prefect import flow

    @flow(name="bench-deliveries", persist_result=False)
    async def bench(items) -> None:  # type: ignore[no-untyped-def]
        for rec, tr in items:
            await deliver_every_call(rec, tr)

    t0 = time.perf_counter()
    await bench(batch)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=20)
    ap.add_argument("--prefect", action="store_true", help="run inside a Prefect flow")
    args = ap.parse_args()
    n = max(1, min(args.recordings, 500))

    tmp = Path(tempfile.mkdtemp(prefix="conn-bench-"))
    os.environ["RECFLOW_DATA_DIR"] = str(tmp)
    os.environ["RECFLOW_SECRET_KEY"] = "bench-key"
    os.environ["RECFLOW_PUBLIC_URL"] = "https://recflow.example.com"

    import services.deliveries as d
    from catalog.repository import Catalog
    from services.config.document import apply_document
    from tests.fakes.crm import FakeHubSpot, FakeSheets
    from tests.fakes.slack import FakeSlack
    from tests.fakes.webhook import FakeWebhook

    catalog = Catalog.open()
    d._catalog = lambda: catalog  # type: ignore[assignment]
    with (
        FakeSlack("xoxb-b") as slack,
        FakeHubSpot("pat-b") as hub,
        FakeSheets() as sheets,
        FakeWebhook() as hook,
    ):
        apply_document(
            catalog,
            {
                "connectors": [
                    {
                        "name": "slack",
                        "kind": "slack",
                        "on": "every_call",
                        "config": {
                            "token": "xoxb-b",
                            "channel": "#c",
                            "base_url": slack.api_url,
                            "rate_limit_per_minute": 0,  # framework overhead, not vendor limits
                        },
                    },
                    {
                        "name": "crm",
                        "kind": "hubspot",
                        "on": "every_call",
                        "config": {
                            "access_token": "pat-b",
                            "host": hub.url,
                            "rate_limit_per_minute": 0,
                        },
                    },
                    {
                        "name": "sheet",
                        "kind": "gsheets",
                        "on": "every_call",
                        "config": {
                            "spreadsheet_id": sheets.spreadsheet_id,
                            "access_token": sheets.token,
                            "api_base_url": sheets.url,
                            "rate_limit_per_minute": 0,
                        },
                    },
                    {
                        "name": "hook",
                        "kind": "webhook",
                        "on": "every_call",
                        "config": {"url": hook.hook_url, "signing_secret": "s"},
                    },
                ]
            },
        )
        batch = make_recordings(n)
        # warm-up outside the timings: SDK imports (hubspot-api-client alone takes ~1 s) and
        # first connections must not be billed to whichever path runs first
        warm = make_recordings(1)
        asyncio.run(framework(warm, catalog, False))
        direct_calls(1, slack, hub, sheets, hook)
        if args.prefect:
            from prefect.testing.utilities import prefect_test_harness

            with prefect_test_harness():
                fw = asyncio.run(framework(batch, catalog, True))
        else:
            fw = asyncio.run(framework(batch, catalog, False))
        direct = direct_calls(n, slack, hub, sheets, hook)
        posts, calls = len(slack.posts) - 2, len(hub.calls) - 2  # minus the warm-ups
    total = 4 * n
    mode = "in Prefect flow (1 task/delivery)" if args.prefect else "deliver_every_call, no Prefect"
    print(f"{'path':<40} {'deliveries':>10} {'seconds':>8} {'deliv/s':>8} {'ms/deliv':>9}")
    print(f"{mode:<40} {total:>10} {fw:>8.2f} {total / fw:>8.1f} {1000 * fw / total:>9.1f}")
    print(
        f"{'direct SDK calls (no framework)':<40} {total:>10} {direct:>8.2f} "
        f"{total / direct:>8.1f} {1000 * direct / total:>9.1f}"
    )
    ratio = fw / direct
    print(f"framework / direct time ratio: {ratio:.2f}x  (slack posts {posts}, hubspot {calls})")


if __name__ == "__main__":
    main()
