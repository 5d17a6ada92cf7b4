"""Keyword rules in the flow layer: matches stored, one Slack alert per rule per call through
the real Slack connector (slack-sdk) against a local fake Slack, even when run again; backfill."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog import trigger_matches as tm
from catalog.models import Recording, Speaker, Transcript, TranscriptSegment
from catalog.repository import Catalog
from catalog.settings import get_settings
from services.config.document import apply_document
from tests.fakes.slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    s = FakeSlack(token="xoxb-test-token")  # serving from construction
    yield s
    s.close()


@pytest.fixture
def cat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    """The catalog the flow code opens for itself (services.runtime.get_catalog)."""
    from services import keyword_triggers, runtime

    monkeypatch.setenv("RECFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECFLOW_PUBLIC_URL", "https://recflow.example.com")
    get_settings.cache_clear()
    runtime.use_catalog(None)
    keyword_triggers._compiled.clear()
    yield runtime.get_catalog()
    runtime.use_catalog(None)
    get_settings.cache_clear()


def configure(cat: Catalog, slack: FakeSlack, rules: list[dict]) -> None:
    apply_document(
        cat,
        {
            "connectors": [
                {
                    "name": "churn-slack",
                    "kind": "slack",
                    "config": {
                        "token": "xoxb-test-token",
                        "channel": "#churn",
                        "base_url": slack.api_url,
                    },
                }
            ],
            "rules": rules,
        },
    )


def call(
    cat: Catalog, *lines: tuple[str, str], when: datetime | None = None
) -> tuple[Recording, Transcript]:
    rec = Recording(
        from_number="+447700900125",
        to_number="+441632960557",
        duration_seconds=30.0,
        started_at=when or datetime.now(UTC),
    )
    cat.add_recording(rec)
    segs, t = [], 0.0
    for who, text in lines:
        sp = Speaker(who)
        segs.append(
            TranscriptSegment(speaker=sp, channel=sp.channel, start=t, end=t + 4, text=text)
        )
        t += 5
    tr = Transcript(recording_id=rec.id, segments=segs)
    cat.save_transcript(tr)
    return rec, tr


CHURN = {
    "name": "churn-risk",
    "any": ["cancel", "competitor"],
    "speaker": "caller",
    "actions": [{"connector": "churn-slack"}],
}
AGENT = {
    "name": "agent-side",
    "any": ["competitor"],
    "speaker": "callee",
    "actions": [{"connector": "churn-slack"}],
}


def test_one_alert_per_rule_per_call_even_on_retries(cat: Catalog, slack: FakeSlack) -> None:
    from services.keyword_triggers import evaluate_keyword_rules

    configure(cat, slack, [CHURN, AGENT])
    rec, tr = call(
        cat,
        ("callee", "Acme support, how can I help?"),
        ("caller", "I want to cancel. Your competitor is cheaper, I will cancel."),
    )
    matches = asyncio.run(evaluate_keyword_rules(rec, tr))
    assert {m.rule for m in matches} == {"churn-risk"}
    assert len(matches) == 3  # cancel twice, competitor once, all by the caller
    assert len(slack.posts) == 1
    post = slack.posts[0]
    assert post["channel"] == "#churn"
    body = json.dumps(post).lower()
    assert "churn-risk" in body and "cancel" in body
    assert f"https://recflow.example.com/recordings/{rec.id}" in json.dumps(post)

    # the flow runs again (a retry after a crash, a re-dispatch): no second alert
    asyncio.run(evaluate_keyword_rules(rec, tr))
    asyncio.run(evaluate_keyword_rules(rec, None))  # transcript read from the catalog
    assert len(slack.posts) == 1
    stored = tm.matches_for_recording(cat, rec.id)
    assert [(m.rule, m.phrase, m.speaker) for m in stored] == [
        ("churn-risk", "cancel", "caller"),
        ("churn-risk", "competitor", "caller"),
        ("churn-risk", "cancel", "caller"),
    ]
    assert tm.alerts_for_recording(cat, rec.id)[0]["status"] == "sent"
    deliveries = cat.list_deliveries(subject_id=rec.id)
    assert [(d.connector, d.action, d.status.value) for d in deliveries] == [
        ("churn-slack", "rule:churn-risk", "succeeded")
    ]


def test_no_alert_without_the_keyword(cat: Catalog, slack: FakeSlack) -> None:
    from services.keyword_triggers import evaluate_keyword_rules

    configure(cat, slack, [CHURN, AGENT])
    rec, tr = call(cat, ("caller", "What time do you open on Saturday?"), ("callee", "At nine."))
    assert asyncio.run(evaluate_keyword_rules(rec, tr)) == []
    assert slack.posts == []
    assert tm.matches_for_recording(cat, rec.id) == []


def test_failed_alert_is_sent_on_the_next_run(cat: Catalog, slack: FakeSlack) -> None:
    from services.keyword_triggers import evaluate_keyword_rules

    configure(cat, slack, [CHURN])
    rec, tr = call(cat, ("caller", "cancel it"))
    slack.token = "xoxb-rotated"  # Slack refuses the token: the delivery fails
    asyncio.run(evaluate_keyword_rules(rec, tr))
    assert slack.posts == []
    assert tm.alerts_for_recording(cat, rec.id)[0]["status"] == "sending"
    slack.token = "xoxb-test-token"
    asyncio.run(evaluate_keyword_rules(rec, tr))
    assert len(slack.posts) == 1
    asyncio.run(evaluate_keyword_rules(rec, tr))
    assert len(slack.posts) == 1


def test_new_rules_compile_once_per_version(cat: Catalog, slack: FakeSlack) -> None:
    from services import keyword_triggers

    configure(cat, slack, [CHURN])
    _, a = keyword_triggers.current_rules(cat)
    _, b = keyword_triggers.current_rules(cat)
    assert a is b
    configure(cat, slack, [CHURN, AGENT])
    _, c = keyword_triggers.current_rules(cat)
    assert c is not a and len(c.rules) == 2


def test_backfill_applies_new_rules_to_history(cat: Catalog, slack: FakeSlack) -> None:
    from services.keyword_triggers import backfill

    configure(cat, slack, [AGENT])
    day = datetime(2024, 3, 1, tzinfo=UTC)
    old, _ = call(cat, ("caller", "please cancel"), when=day)
    inside, _ = call(cat, ("caller", "cancel now"), when=day + timedelta(days=1))
    call(cat, ("caller", "nothing"), when=day + timedelta(days=1, hours=1))
    call(cat, ("caller", "cancel again"), when=day + timedelta(days=5))
    configure(cat, slack, [CHURN])  # a new rule

    report = asyncio.run(backfill(cat, day + timedelta(hours=1), day + timedelta(days=3)))
    assert report.as_dict() == {
        "recordings": 2,
        "with_matches": 1,
        "matches": 1,
        "alerts": 0,
        "by_rule": {"churn-risk": 1},
    }
    assert tm.matches_for_recording(cat, inside.id)[0].rule == "churn-risk"
    assert tm.matches_for_recording(cat, old.id) == []  # outside the range
    assert slack.posts == []  # history does not alert unless asked

    report = asyncio.run(backfill(cat, None, None, alert=True))
    assert (report.recordings, report.alerts) == (4, 3)
    assert len(slack.posts) == 3
    assert asyncio.run(backfill(cat, None, None, alert=True)).alerts == 0
    assert len(slack.posts) == 3
