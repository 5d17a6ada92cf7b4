"""`recflow connectors list|check` and `recflow deliveries list|retry` through the real CLI app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.connectors.conftest import isolated_settings  # noqa: F401
from tests.fakes.slack import FakeSlack


def test_list_check_deliveries_retry(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from recflow.cli import app

    runner = CliRunner()
    with FakeSlack("xoxb-cli") as fake:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"""connectors:
  - {{name: ops, kind: slack, on: every_call,
      config: {{token: "${{T}}", channel: "#ops", base_url: "{fake.api_url}"}}}}
  - {{name: stale, kind: slack,
      config: {{token: xoxb-old, channel: "#ops", base_url: "{fake.api_url}"}}}}
""")
        monkeypatch.setenv("T", "xoxb-cli")
        r = runner.invoke(app, ["config", "apply", str(cfg)])
        assert r.exit_code == 0, r.output
        out = runner.invoke(app, ["connectors", "list"]).output
        for kind in (
            "slack",
            "email",
            "teams",
            "webhook",
            "salesforce",
            "hubspot",
            "jira",
            "gsheets",
        ):
            assert kind in out
        assert "ops" in out and "on every_call" in out
        data = json.loads(runner.invoke(app, ["connectors", "list", "--json"]).output)
        assert {"kind", "capabilities", "config_schema"} <= set(data["kinds"][0])
        assert runner.invoke(app, ["connectors", "check", "ops"]).exit_code == 0
        bad = runner.invoke(app, ["connectors", "check", "stale"])
        assert bad.exit_code == 1 and "invalid_auth" in bad.output
        assert "not_found" in runner.invoke(app, ["connectors", "check", "nope"]).output

        # a failed trigger delivery, then a retry from the CLI
        import asyncio

        import services.deliveries as d
        from connectors.base import Notification
        from recflow.context import open_catalog
        from services.deliveries import notify_connector

        monkeypatch.setattr(d, "_catalog", open_catalog)
        fake.fail_next(500, times=100)
        failed = asyncio.run(
            notify_connector(
                "ops",
                subject_kind="recording",
                subject_id="rec-1",
                action="rule:x",
                message=Notification(title="t", text="x"),
                idempotency_key="rec-1:rule:x:ops",
            )
        )
        assert failed.status.value == "failed"
        listed = runner.invoke(app, ["deliveries", "list", "--failed"]).output
        assert failed.id[:8] in listed and "cannot_connect" in listed
        rows = json.loads(runner.invoke(app, ["deliveries", "list", "--json"]).output)
        assert rows[0]["status"] == "failed" and "xoxb-cli" not in json.dumps(rows)
        fake.faults.clear()
        r = runner.invoke(app, ["deliveries", "retry", failed.id[:8]])
        assert r.exit_code == 0 and "succeeded" in r.output
        assert len(fake.posts) == 1
