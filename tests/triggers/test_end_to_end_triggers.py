"""End to end: a generated two-voice call saying the keyword produces exactly one alert in a
local fake Slack (through `recflow up`, the worker, faster-whisper and slack-sdk); a call
without it produces none."""

from __future__ import annotations

import json
import time

import pytest

from tests.fakes.slack import FakeSlack
from tests.support import CANCEL_CALL, HOURS_CALL, have, make_call

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (have("espeak-ng") and have("sox")), reason="needs espeak-ng and sox")
def test_keyword_call_alerts_once_and_other_call_never(stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    slack = FakeSlack(token="xoxb-e2e-triggers")
    try:
        cfg = tmp_path / "triggers.yaml"
        cfg.write_text(
            f"""
connectors:
  - name: triggers-e2e-slack
    kind: slack
    config: {{token: "xoxb-e2e-triggers", channel: "#churn", base_url: "{slack.api_url}"}}
rules:
  - name: e2e-churn
    any: ["cancel", "competitor"]
    speaker: caller
    actions:
      - {{connector: triggers-e2e-slack}}
  - name: e2e-agent-competitor
    any: ["competitor"]
    speaker: callee
    actions:
      - {{connector: triggers-e2e-slack}}
"""
        )
        stack.cli("config", "apply", str(cfg))
        yes = make_call(CANCEL_CALL)
        no = make_call(HOURS_CALL)
        rid_yes = stack.cli(
            "ingest", str(yes.stereo), "--from", "+447700900125", "--to", "+441632960557"
        ).stdout.strip()
        rid_no = stack.cli(
            "ingest", str(no.stereo), "--from", "+447700900126", "--to", "+441632960558"
        ).stdout.strip()
        shown_yes = stack.wait_status(rid_yes)
        shown_no = stack.wait_status(rid_no)
        time.sleep(3)  # anything late would show up now

        assert len(slack.posts) == 1, slack.posts
        body = json.dumps(slack.posts[0]).lower()
        assert "e2e-churn" in body and "cancel" in body
        assert {m["rule"] for m in shown_yes["matches"]} == {"e2e-churn"}
        assert all(m["speaker"] == "caller" for m in shown_yes["matches"])
        assert shown_no["matches"] == []

        listed = stack.cli("rules", "list", "--json").stdout
        assert "e2e-churn" in listed
    finally:
        # leave the shared stack without rules pointing at a server that is going away
        stack.cli("config", "apply", str(_empty_rules(tmp_path)), check=False)
        slack.close()


def _empty_rules(tmp_path):  # type: ignore[no-untyped-def]
    p = tmp_path / "no-rules.yaml"
    p.write_text("rules: []\n")
    return p
