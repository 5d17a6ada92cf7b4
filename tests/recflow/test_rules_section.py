"""The `rules:` config section: validation that names the rule, idempotent apply, export."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from services.config.base import ApplyContext, ConfigFileError
from services.config.document import apply_document, export_document
from services.config.rules_section import RulesSection

CONNECTORS = [
    {"name": "support-slack", "kind": "slack"},
    {"name": "compliance-email", "kind": "email"},
]
RULES = [
    {
        "name": "churn-risk",
        "any": ["cancel my subscription", "cancel", "refund"],
        "speaker": "caller",
        "actions": [{"connector": "support-slack", "template": "keyword_alert"}],
    },
    {
        "name": "missing-disclosure",
        "none": ["this call is recorded"],
        "speaker": "callee",
        "window": {"first_seconds": 30},
        "actions": [{"connector": "compliance-email"}],
    },
]


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    return Catalog.open(RecflowSettings(data_dir=tmp_path))


def _validate(cat: Catalog, rules: list, connectors: list | None = None):
    doc = {"rules": rules, "connectors": CONNECTORS if connectors is None else connectors}
    return RulesSection().validate(rules, ApplyContext(catalog=cat, document=doc))


def _problems(cat: Catalog, rules: list, connectors: list | None = None) -> dict[str, str]:
    with pytest.raises(ConfigFileError) as e:
        _validate(cat, rules, connectors)
    return dict(e.value.problems)


def test_issue_example_is_valid(cat: Catalog) -> None:
    rs = _validate(cat, RULES)
    assert [r.name for r in rs.rules] == ["churn-risk", "missing-disclosure"]
    assert rs.rules[1].actions[0].template == "keyword_alert"


def test_errors_name_the_rule(cat: Catalog) -> None:
    bad = [
        {"name": "empty", "any": [], "all": []},
        {"name": "window", "any": ["x"], "window": {"first_seconds": 10, "last_seconds": 5}},
        {"name": "nowords", "any": ["?!"]},
        {"name": "ghost", "any": ["x"], "actions": [{"connector": "pagerduty"}]},
        {
            "name": "tmpl",
            "any": ["x"],
            "actions": [{"connector": "support-slack", "template": "nope"}],
        },
        {"name": "proximity", "near": [{"phrases": ["a"], "near": []}]},
        {"any": ["x"]},
    ]
    p = _problems(cat, bad)
    assert "empty phrase lists" in p["rules.empty"]
    assert "exactly one" in p["rules.window.window"]
    assert "no words" in p["rules.nowords.any"]
    assert "unknown connector 'pagerduty'" in p["rules.ghost.actions.0.connector"]
    assert "support-slack" in p["rules.ghost.actions.0.connector"]  # says what exists
    assert "triggers/nope" in p["rules.tmpl.actions.0.template"]
    assert "both sides" in p["rules.proximity.near"]
    assert "rules.#7.name" in p


def test_duplicate_names(cat: Catalog) -> None:
    p = _problems(cat, [{"name": "a", "any": ["x"]}, {"name": "a", "any": ["y"]}])
    assert "twice" in p["rules.a"]


def test_connector_already_in_catalog(cat: Catalog) -> None:
    with pytest.raises(ConfigFileError):
        _validate(cat, RULES, connectors=[])
    apply_document(
        cat,
        {
            "connectors": [
                {
                    "name": "support-slack",
                    "kind": "slack",
                    "config": {
                        "token": "xoxb-1",
                        "channel": "#a",
                        "base_url": "http://127.0.0.1:9/api/",
                    },
                },
                {
                    "name": "compliance-email",
                    "kind": "email",
                    "config": {
                        "host": "127.0.0.1",
                        "port": 2525,
                        "from_address": "a@example.com",
                        "to_addresses": ["b@example.com"],
                    },
                },
            ]
        },
    )
    assert len(_validate(cat, RULES, connectors=[]).rules) == 2


def test_not_a_list(cat: Catalog) -> None:
    assert "list" in _problems(cat, {"name": "x"})["rules"]  # type: ignore[arg-type]


def test_apply_is_idempotent_and_exports(cat: Catalog) -> None:
    rules = [{k: v for k, v in r.items() if k != "actions"} for r in RULES]
    assert apply_document(cat, {"rules": rules}) == [
        "rules.churn-risk: added",
        "rules.missing-disclosure: added",
    ]
    assert apply_document(cat, {"rules": rules}) == []
    exported = export_document(cat)["rules"]
    assert apply_document(cat, {"rules": exported}) == []  # export round-trips
    rules[0]["any"] = ["refund"]
    assert apply_document(cat, {"rules": rules[:1]}) == [
        "rules.churn-risk: changed",
        "rules.missing-disclosure: removed",
    ]


def test_invalid_file_changes_nothing(cat: Catalog) -> None:
    apply_document(cat, {"rules": [{"name": "keep", "any": ["x"]}]})
    with pytest.raises(ConfigFileError):
        apply_document(cat, {"rules": [{"name": "keep", "any": ["y"]}, {"name": "bad", "any": []}]})
    assert [r["name"] for r in export_document(cat)["rules"]] == ["keep"]
    assert export_document(cat)["rules"][0]["any"] == ["x"]
