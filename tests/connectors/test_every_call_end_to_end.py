"""Issue 4's "done" line from outside: `recflow config apply` with one connector of each kind,
all `on: every_call` and pointed at the wire-level fakes, then one ingested two-voice call makes
exactly one record in every fake, 8 succeeded deliveries, and `config export` leaks no secret."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.crm import FakeHubSpot, FakeJira, FakeSalesforce, FakeSheets
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeTeams, FakeWebhook
from tests.support import CANCEL_CALL, make_call, wait_until

pytestmark = pytest.mark.slow

CALLER = "+447700900123"
KINDS = ["slack", "email", "teams", "webhook", "salesforce", "hubspot", "jira", "gsheets"]


def _apply(stack, tmp_path: Path, name: str, doc: dict) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2))  # JSON is YAML
    stack.cli("config", "apply", str(path))


def test_every_connector_kind_gets_exactly_one_record_per_call(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with ExitStack() as fakes:
        slack = FakeSlack("xoxb-e2e-slack-token")
        fakes.enter_context(slack)
        smtp = FakeSMTP()
        fakes.enter_context(smtp)
        teams = FakeTeams()
        fakes.enter_context(teams)
        hook = FakeWebhook()
        fakes.enter_context(hook)
        sf = FakeSalesforce("00De2e!salesforce-session")
        fakes.enter_context(sf)
        hs = FakeHubSpot("pat-e2e-hubspot-token")
        fakes.enter_context(hs)
        jira = FakeJira("bot@acme.test", "jira-e2e-api-token")
        fakes.enter_context(jira)
        sheets = FakeSheets(token="ya29.e2e-sheets-token")
        fakes.enter_context(sheets)
        contact = sf.add("Contact", Phone=CALLER)
        hs_contact = hs.add_contact(CALLER)

        secrets = {
            "E2E_SLACK_TOKEN": slack.token,
            "E2E_TEAMS_URL": teams.webhook_url,
            "E2E_SF_TOKEN": sf.token,
            "E2E_HUBSPOT_TOKEN": hs.token,
            "E2E_JIRA_TOKEN": "jira-e2e-api-token",
            "E2E_SHEETS_TOKEN": sheets.token,
            "E2E_HOOK_AUTH": "Bearer e2e-hook-bearer",
        }
        literal_signing_secret = "whsec-e2e-literal-signing-secret"  # written literally
        connectors: list[dict[str, Any]] = [
            {"name": "e2e-slack", "kind": "slack",
             "config": {"token": "${E2E_SLACK_TOKEN}", "channel": "#support",
                        "base_url": slack.api_url}},
            {"name": "e2e-email", "kind": "email",
             "config": {"host": "127.0.0.1", "port": smtp.port, "starttls": False,
                        "from_address": "rec@acme.test", "to_addresses": ["ops@acme.test"]}},
            {"name": "e2e-teams", "kind": "teams", "config": {"webhook_url": "${E2E_TEAMS_URL}"}},
            {"name": "e2e-webhook", "kind": "webhook",
             "config": {"url": hook.hook_url, "signing_secret": literal_signing_secret,
                        "secret_headers": {"Authorization": "${E2E_HOOK_AUTH}"}}},
            {"name": "e2e-salesforce", "kind": "salesforce",
             "config": {"instance_url": sf.url, "access_token": "${E2E_SF_TOKEN}",
                        "ca_file": sf.ca_file, "default_region": "GB"}},
            {"name": "e2e-hubspot", "kind": "hubspot",
             "config": {"access_token": "${E2E_HUBSPOT_TOKEN}", "host": hs.url}},
            {"name": "e2e-jira", "kind": "jira",
             "config": {"server": jira.url, "email": "bot@acme.test",
                        "api_token": "${E2E_JIRA_TOKEN}", "project": "SUP"}},
            {"name": "e2e-gsheets", "kind": "gsheets",
             "config": {"spreadsheet_id": sheets.spreadsheet_id,
                        "access_token": "${E2E_SHEETS_TOKEN}", "api_base_url": sheets.url}},
        ]  # fmt: skip
        for c in connectors:
            c["on"] = "every_call"
        assert sorted(c["kind"] for c in connectors) == sorted(KINDS)

        # ${VAR} is resolved from the environment of `config apply` and stored encrypted.
        saved = dict(stack.env)
        stack.env.update(secrets)
        try:
            _apply(stack, tmp_path, "connectors.yaml", {"connectors": connectors})
        finally:
            stack.env.clear()
            stack.env.update(saved)
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

            rows = wait_until(settled, 120, what="8 deliveries settled")
            by = {d["connector"]: d for d in rows}
            assert sorted(by) == sorted(c["name"] for c in connectors), rows
            failed = {
                n: (d["status"], d["error"]) for n, d in by.items() if d["status"] != "succeeded"
            }
            assert not failed, f"deliveries not succeeded: {failed}"
            assert len(rows) == 8 and all(d["action"] == "every_call" for d in rows), rows

            # exactly one record in every fake
            def one(what: str, items: list | dict) -> None:
                assert len(items) == 1, (
                    f"{what}: expected exactly 1 record, got {len(items)}: {items!r:.500}"
                )

            one("slack chat.postMessage", slack.posts)
            assert slack.posts[0]["channel"] == "#support"
            one("email (SMTP)", smtp.messages)
            assert smtp.messages[0]["To"] == "ops@acme.test"
            one("teams card", teams.cards)
            one("webhook POST", hook.received)
            assert hook.received[0].headers["authorization"] == secrets["E2E_HOOK_AUTH"]
            assert hook.received[0].headers["idempotency-key"] == f"{rid}:e2e-webhook:every_call"
            one("salesforce Task", sf.tasks)
            [task] = sf.tasks.values()
            assert task["CallObject"] == rid and task["WhoId"] == contact, task
            one("hubspot call", hs.calls)
            assert [a[1] for a in hs.associations] == [hs_contact], hs.associations
            one("jira issue", jira.issues)
            assert [r[0] for r in sheets.rows[1:]] == [f"{rid}:e2e-gsheets:every_call"], (
                f"gsheets: expected header + exactly 1 row, got {sheets.rows!r:.500}"
            )
            assert sheets.rows[1][1] == rid

            exported = stack.cli("config", "export").stdout
            leaked = [
                k
                for k, v in {**secrets, "literal": literal_signing_secret}.items()
                if v in exported
            ]
            assert not leaked, f"config export leaks secret values of {leaked}:\n{exported}"
            for ref in ("${E2E_SLACK_TOKEN}", "${E2E_SF_TOKEN}", "${E2E_JIRA_TOKEN}"):
                assert ref in exported, f"{ref} not exported as a reference:\n{exported}"
        finally:
            # later tests share this stack: the connectors section is declarative, [] removes ours
            _apply(stack, tmp_path, "no-connectors.yaml", {"connectors": []})
