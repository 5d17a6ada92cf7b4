"""Issue 14 from outside: `recflow config apply` with one connector of each new kind, all
`on: every_call` and pointed at the wire-level fakes (an .xlsx in a temp folder for Excel), then
one ingested call makes exactly one record in every fake and one row in the workbook."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.fakes.http import FakeHTTPServer, Request, Response
from tests.fakes.tickets import FakeClickUp, FakeDynamics, FakeFreshdesk, FakeLinear, FakeZendesk
from tests.support import CANCEL_CALL, make_call, wait_until

pytestmark = pytest.mark.slow

CALLER = "+447700900123"


def test_every_new_kind_gets_exactly_one_record_per_call(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with ExitStack() as fakes:
        linear = fakes.enter_context(FakeLinear("lin_api_e2e"))
        clickup = fakes.enter_context(FakeClickUp("pk_e2e"))
        zendesk = fakes.enter_context(FakeZendesk("bot@acme.test", "zd-e2e-token"))
        freshdesk = fakes.enter_context(FakeFreshdesk("fd-e2e-key"))
        dyn = fakes.enter_context(FakeDynamics(secret="dyn-e2e-secret"))
        target = fakes.enter_context(FakeHTTPServer())
        posts: list[Request] = []

        @target.route("POST", r"/notify")
        def _got(req: Request, _m: Any) -> Response:
            posts.append(req)
            return Response(200, json={"ok": True})

        contact = dyn.add("contact", telephone1=CALLER)
        zd_user = zendesk.add_user(CALLER)
        fd_contact = freshdesk.add_contact(CALLER)
        xlsx = tmp_path / "calls.xlsx"
        connectors: list[dict[str, Any]] = [
            {"name": "e2e-linear", "kind": "linear",
             "config": {"api_key": "lin_api_e2e", "team_id": linear.team_id,
                        "api_url": linear.api_url}},
            {"name": "e2e-clickup", "kind": "clickup",
             "config": {"api_token": "pk_e2e", "list_id": clickup.list_id,
                        "api_url": clickup.url + "/api/v2"}},
            {"name": "e2e-zendesk", "kind": "zendesk",
             "config": {"url": zendesk.url, "email": "bot@acme.test", "api_token": "zd-e2e-token",
                        "default_region": "GB"}},
            {"name": "e2e-freshdesk", "kind": "freshdesk",
             "config": {"url": freshdesk.url, "api_key": "fd-e2e-key", "default_region": "GB"}},
            {"name": "e2e-dynamics", "kind": "dynamics365",
             "config": {"instance_url": dyn.url, "authority_url": dyn.url, "tenant_id": dyn.tenant,
                        "client_id": dyn.client_id, "client_secret": "dyn-e2e-secret",
                        "default_region": "GB"}},
            {"name": "e2e-excel", "kind": "excel", "config": {"path": str(xlsx)}},
            {"name": "e2e-apprise", "kind": "apprise",
             "config": {"urls": [f"json://127.0.0.1:{target.port}/notify"]}},
        ]  # fmt: skip
        for c in connectors:
            c["on"] = "every_call"
        path = tmp_path / "new-kinds.yaml"
        path.write_text(json.dumps({"connectors": connectors}))
        stack.cli("config", "apply", str(path))
        try:
            call = make_call(CANCEL_CALL)
            rid = stack.cli(
                "ingest", str(call.stereo), "--from", CALLER, "--to", "+441632960555"
            ).stdout.strip()
            stack.wait_status(rid, "processed")

            def settled() -> list[dict] | None:
                rows = json.loads(
                    stack.cli("deliveries", "list", "--recording", rid, "--json").stdout
                )
                done = [d for d in rows if d["status"] not in ("pending", "running")]
                return rows if len(done) >= len(connectors) else None

            rows = wait_until(settled, 120, what="7 deliveries settled")
            failed = {d["connector"]: d["error"] for d in rows if d["status"] != "succeeded"}
            assert not failed, failed

            assert len(linear.issues) == 1
            assert len(clickup.tasks) == 1
            [ticket] = zendesk.tickets.values()
            assert ticket["requester_id"] == zd_user
            assert ticket["external_id"] == f"{rid}:e2e-zendesk:every_call"
            [fd] = freshdesk.tickets.values()
            assert fd["requester_id"] == fd_contact and fd["source"] == 3
            [pc] = dyn.phonecalls.values()
            assert pc["regardingobjectid_contact@odata.bind"] == f"/contacts({contact})"
            assert len(posts) == 1
            sheet = list(load_workbook(xlsx)["Calls"].iter_rows(values_only=True))
            assert sheet[0][0] == "key" and len(sheet) == 2
            assert sheet[1][0] == f"{rid}:e2e-excel:every_call" and sheet[1][1] == rid

            listing = json.loads(stack.cli("connectors", "list", "--json").stdout)
            health = {c["name"]: c["health"]["state"] for c in listing["configured"]}
            assert all(health[c["name"]] == "ok" for c in connectors), health
        finally:
            path.write_text(json.dumps({"connectors": []}))
            stack.cli("config", "apply", str(path))
