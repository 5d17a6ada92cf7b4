"""The issue-14 connectors: framework throughput vs the same requests made directly, and a burst
of alerts through a proactive rate limit against a receiver that answers 429 above its limit.

    .venv/bin/python benchmarks/integrations_bench.py [--recordings 20] [--alerts 1000] [--rate 10]

Part 1: a batch of recordings, each delivered ``on: every_call`` to Linear, ClickUp, Zendesk,
Freshdesk, Dynamics 365, Excel and Apprise (wire-level fakes in tests/fakes, a temp .xlsx),
through ``deliver_every_call`` (templates, payload storage, delivery log on a SQLite catalog,
secrets decryption, dedup look-ups). Then the same HTTP requests (look-up + create, per vendor)
sent directly with one pooled httpx client, and the same rows written with openpyxl directly.

Part 2: ``--alerts`` notifications fired at once (asyncio.gather) through a webhook connector
limited to ``--margin`` × ``--rate`` per second (burst 1), against a receiver that answers 429
above ``--rate`` requests in any one second: counts 429 answers, duplicates and the achieved
rate. (At margin 1.0 scheduling jitter makes some requests arrive closer than 1/rate apart; the
retry policy absorbs those 429s, but they are counted.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DO_NOT_TRACK", "1")


def direct(n: int, fakes: dict[str, Any], xlsx: Path) -> float:
    """The requests the framework makes, sent straight with httpx; rows with openpyxl."""
    import httpx
    from openpyxl import Workbook, load_workbook

    lin, cu, zd, fd, dyn, target = (
        fakes[k] for k in ("linear", "clickup", "zendesk", "freshdesk", "dynamics", "apprise")
    )
    t0 = time.perf_counter()
    with httpx.Client(trust_env=False) as h:
        tok = h.post(
            f"{dyn.url}/{dyn.tenant}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": dyn.client_id,
                  "client_secret": dyn.secret, "scope": f"{dyn.url}/.default"},
        ).json()["access_token"]  # fmt: skip
        dh = {"Authorization": f"Bearer {tok}", "OData-Version": "4.0"}
        for i in range(n):
            key = f"direct-{i}"
            q = {"query": "query { issues(filter: {id: {eq: $id}}) { nodes { id } } }",
                 "variables": {"id": "x"}}  # fmt: skip
            h.post(lin.api_url, json=q, headers={"Authorization": lin.api_key})
            h.post(lin.api_url, headers={"Authorization": lin.api_key}, json={
                "query": "mutation { issueCreate(input: $input) { success } }",
                "variables": {"input": {"id": _uuid(key), "teamId": lin.team_id,
                                        "title": f"call {i}", "description": "x"}}})  # fmt: skip
            cuh = {"Authorization": cu.token}
            h.get(f"{cu.url}/api/v2/list/{cu.list_id}/task", params={"tags[]": key}, headers=cuh)
            h.post(f"{cu.url}/api/v2/list/{cu.list_id}/task", json={"name": f"call {i}",
                   "tags": [key]}, headers=cuh)  # fmt: skip
            za = (f"{zd.email}/token", zd.token)
            h.get(f"{zd.url}/api/v2/tickets.json", params={"external_id": key}, auth=za)
            h.get(f"{zd.url}/api/v2/users/search.json", params={"query": "+14155550100"}, auth=za)
            h.post(f"{zd.url}/api/v2/tickets.json", auth=za, json={"ticket": {
                "subject": f"call {i}", "comment": {"body": "x"}, "external_id": key}})  # fmt: skip
            fa = (fd.api_key, "X")
            c = h.get(f"{fd.url}/api/v2/contacts", params={"phone": "+14155550100"}, auth=fa)
            cid = c.json()[0]["id"] if c.json() else 1
            h.get(f"{fd.url}/api/v2/tickets", params={"requester_id": cid}, auth=fa)
            h.post(f"{fd.url}/api/v2/tickets", auth=fa, json={"subject": f"call {i}",
                   "description": "x", "requester_id": cid, "source": 3})  # fmt: skip
            h.get(f"{dyn.url}/api/data/v9.2/contacts", headers=dh,
                  params={"$filter": "telephone1 eq '+14155550100'"})  # fmt: skip
            h.patch(f"{dyn.url}/api/data/v9.2/phonecalls({_uuid(key)})", headers=dh,
                    json={"subject": f"call {i}"})  # fmt: skip
            h.patch(f"{dyn.url}/api/data/v9.2/phonecalls({_uuid(key)})", headers=dh,
                    json={"statecode": 1, "statuscode": 2})  # fmt: skip
            h.post(f"{target.url}/notify", json={"title": f"call {i}", "message": "x"})
            wb = load_workbook(xlsx) if xlsx.exists() else Workbook()
            wb.active.append([key, f"call {i}"])
            wb.save(xlsx)
    return time.perf_counter() - t0


def _uuid(key: str) -> str:
    from connectors.linear import issue_id

    return issue_id(key)


async def framework(batch: list[Any]) -> float:
    from services.deliveries import deliver_every_call

    t0 = time.perf_counter()
    for rec, tr in batch:
        await deliver_every_call(rec, tr)
    return time.perf_counter() - t0


class LimitedReceiver:
    """A webhook receiver that, like a vendor's "N requests per second", answers 429 when a
    request would make more than ``rate`` in the last second (a sliding window)."""

    def __init__(self, rate: float) -> None:
        from collections import deque

        from tests.fakes.http import FakeHTTPServer, Request, Response

        self.server = FakeHTTPServer()
        self.rate = rate
        self.window: deque[float] = deque()
        self.keys: list[str] = []
        self.rejected = 0
        mu = threading.Lock()

        @self.server.route("POST", r"/hook")
        def hook(req: Request, _m: Any) -> Response:
            with mu:
                now = time.monotonic()
                while self.window and now - self.window[0] >= 1.0:
                    self.window.popleft()
                if len(self.window) >= self.rate:
                    self.rejected += 1
                    return Response(
                        429, json={"error": "rate limited"}, headers={"Retry-After": "1"}
                    )
                self.window.append(now)
                self.keys.append(req.headers.get("idempotency-key", ""))
            return Response(200, json={"id": len(self.keys)})


async def burst(
    catalog: Any, alerts: int, rate: float, margin: float
) -> tuple[float, LimitedReceiver]:
    from connectors.base import Notification
    from services.config.document import apply_document
    from services.deliveries import notify_connector

    rx = LimitedReceiver(rate)
    apply_document(catalog, {"connectors": [{
        "name": "limited", "kind": "webhook",
        "config": {"url": f"{rx.server.url}/hook", "rate_limit_per_minute": rate * 60 * margin,
                   "rate_limit_burst": 1}}]})  # fmt: skip
    msg = Notification(title="alert", text="x")
    t0 = time.perf_counter()
    await asyncio.gather(
        *[
            notify_connector(
                "limited",
                subject_kind="bench",
                subject_id=f"s{i}",
                action="alert",
                message=msg,
                idempotency_key=f"burst-{i}",
            )
            for i in range(alerts)
        ]
    )
    return time.perf_counter() - t0, rx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=20)
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=10.0, help="the receiver's limit per second")
    ap.add_argument(
        "--margin", type=float, default=0.8, help="connector limit as a share of the receiver's"
    )
    args = ap.parse_args()
    n = max(1, min(args.recordings, 500))

    tmp = Path(tempfile.mkdtemp(prefix="integ-bench-"))
    os.environ["RECFLOW_DATA_DIR"] = str(tmp)
    os.environ["RECFLOW_SECRET_KEY"] = "bench-key"
    os.environ["RECFLOW_PUBLIC_URL"] = "https://recflow.example.com"

    import services.deliveries as d
    from benchmarks.connectors_bench import make_recordings
    from catalog.repository import Catalog
    from services.config.document import apply_document
    from tests.fakes.http import FakeHTTPServer, Response
    from tests.fakes.tickets import (
        FakeClickUp,
        FakeDynamics,
        FakeFreshdesk,
        FakeLinear,
        FakeZendesk,
    )

    catalog = Catalog.open()
    d._catalog = lambda: catalog  # type: ignore[assignment]
    target = FakeHTTPServer()
    target.route("POST", r"/notify")(lambda req, m: Response(200, json={"ok": True}))
    fakes = {
        "linear": FakeLinear(), "clickup": FakeClickUp(), "zendesk": FakeZendesk(),
        "freshdesk": FakeFreshdesk(), "dynamics": FakeDynamics(), "apprise": target,
    }  # fmt: skip
    lin, cu, zd, fd, dyn = (fakes[k] for k in ("linear", "clickup", "zendesk", "freshdesk",
                                               "dynamics"))  # fmt: skip
    off = {"rate_limit_per_minute": 0}
    apply_document(catalog, {"connectors": [
        {"name": "lin", "kind": "linear", "on": "every_call", "config": {
            "api_key": lin.api_key, "team_id": lin.team_id, "api_url": lin.api_url, **off}},
        {"name": "cu", "kind": "clickup", "on": "every_call", "config": {
            "api_token": cu.token, "list_id": cu.list_id, "api_url": cu.url + "/api/v2", **off}},
        {"name": "zd", "kind": "zendesk", "on": "every_call", "config": {
            "url": zd.url, "email": zd.email, "api_token": zd.token, **off}},
        {"name": "fd", "kind": "freshdesk", "on": "every_call", "config": {
            "url": fd.url, "api_key": fd.api_key, **off}},
        {"name": "dyn", "kind": "dynamics365", "on": "every_call", "config": {
            "instance_url": dyn.url, "authority_url": dyn.url, "tenant_id": dyn.tenant,
            "client_id": dyn.client_id, "client_secret": dyn.secret, **off}},
        {"name": "xl", "kind": "excel", "on": "every_call", "config": {
            "path": str(tmp / "framework.xlsx")}},
        {"name": "ap", "kind": "apprise", "on": "every_call", "config": {
            "urls": f"json://127.0.0.1:{target.port}/notify"}},
    ]})  # fmt: skip
    asyncio.run(framework(make_recordings(1)))  # warm-up: imports, first connections
    direct(1, fakes, tmp / "warm.xlsx")
    batch = make_recordings(n)
    fw = asyncio.run(framework(batch))
    dr = direct(n, fakes, tmp / "direct.xlsx")
    total = 7 * n
    print(f"{'path':<44} {'deliveries':>10} {'seconds':>8} {'deliv/s':>8} {'ms/deliv':>9}")
    print(f"{'deliver_every_call (7 new kinds)':<44} {total:>10} {fw:>8.2f} "
          f"{total / fw:>8.1f} {1000 * fw / total:>9.1f}")  # fmt: skip
    print(f"{'same requests direct (httpx, openpyxl)':<44} {total:>10} {dr:>8.2f} "
          f"{total / dr:>8.1f} {1000 * dr / total:>9.1f}")  # fmt: skip
    print(f"framework throughput / direct: {dr / fw:.2f}x")
    for f in fakes.values():
        f.close()

    if args.alerts:
        secs, rx = asyncio.run(burst(catalog, args.alerts, args.rate, args.margin))
        dup = len(rx.keys) - len(set(rx.keys))
        print()
        print(f"{'alerts':>7} {'vendor/s':>8} {'ours/s':>7} {'delivered':>9} {'429s':>5} "
              f"{'duplicates':>10} {'seconds':>8} {'achieved/s':>10}")  # fmt: skip
        print(f"{args.alerts:>7} {args.rate:>8.1f} {args.rate * args.margin:>7.1f} "
              f"{len(set(rx.keys)):>9} {rx.rejected:>5} {dup:>10} {secs:>8.1f} "
              f"{len(rx.keys) / secs:>10.2f}")  # fmt: skip
        rx.server.close()


if __name__ == "__main__":
    main()
