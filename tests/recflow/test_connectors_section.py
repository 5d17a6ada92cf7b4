"""The `connectors:` config section: validation with paths, idempotent apply, encrypted
storage, export with references (never secret values), declarative removal."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import text

from services.config.base import ConfigFileError, load_yaml
from services.config.document import apply_document, export_document
from tests.connectors.conftest import isolated_settings  # noqa: F401

DOC = """
connectors:
  - name: support-slack
    kind: slack
    config: {token: "${SLACK_TOKEN}", channel: "#support", base_url: "https://slack.com/api/"}
  - name: crm
    kind: hubspot
    config: {access_token: "${HUBSPOT_TOKEN}"}
    on: every_call
  - name: mail
    kind: email
    config: {host: smtp.acme.test, from_address: rec@acme.test, username: rec, password: pl41n-pw}
    enabled: false
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-very-secret-1")
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-very-secret-2")


def test_apply_is_idempotent_and_export_has_only_references(catalog, env) -> None:  # type: ignore[no-untyped-def]
    changes = apply_document(catalog, load_yaml(DOC))
    assert changes == [
        "connectors.support-slack: created (slack)",
        "connectors.crm: created (hubspot)",
        "connectors.mail: created (email)",
    ]
    assert apply_document(catalog, load_yaml(DOC)) == []
    out = yaml.safe_dump(export_document(catalog))
    for secret in ("xoxb-very-secret-1", "pat-very-secret-2", "pl41n-pw"):
        assert secret not in out
    exported = {c["name"]: c for c in export_document(catalog)["connectors"]}
    assert exported["support-slack"]["config"]["token"] == "${SLACK_TOKEN}"
    assert exported["crm"]["on"] == "every_call"
    # a literal secret exports masked (issue 19: a `${MAIL_PASSWORD}` reference made the export
    # fail to apply back on the unset variable)
    assert exported["mail"]["config"]["password"] == "**********"
    assert exported["mail"]["enabled"] is False
    # the exported file applies back cleanly, with no variable for the literal: nothing changes
    assert apply_document(catalog, load_yaml(out)) == []
    from catalog.connector_configs import get_connector
    from connectors.configured import values_of

    assert values_of(get_connector(catalog, "mail"))["password"] == "pl41n-pw"


def test_a_masked_secret_without_a_stored_value_is_refused(catalog) -> None:  # type: ignore[no-untyped-def]
    doc = """
connectors:
  - name: mail
    kind: email
    config: {host: smtp.acme.test, from_address: rec@acme.test, username: rec, password: "**********"}
"""
    with pytest.raises(ConfigFileError) as e:
        apply_document(catalog, load_yaml(doc))
    assert e.value.problems[0][0] == "connectors.0.config.password"


def test_dry_run_reports_the_changes_and_keeps_nothing(catalog, env) -> None:  # type: ignore[no-untyped-def]
    assert apply_document(catalog, load_yaml(DOC), dry_run=True) == [
        "connectors.support-slack: created (slack)",
        "connectors.crm: created (hubspot)",
        "connectors.mail: created (email)",
    ]
    assert export_document(catalog).get("connectors") is None
    apply_document(catalog, load_yaml(DOC))
    smaller = DOC[: DOC.index("  - name: crm")]
    assert apply_document(catalog, load_yaml(smaller), dry_run=True) == [
        "connectors.crm: removed",
        "connectors.mail: removed",
    ]
    assert len(export_document(catalog)["connectors"]) == 3


def test_secrets_are_encrypted_at_rest(catalog, env) -> None:  # type: ignore[no-untyped-def]
    apply_document(catalog, load_yaml(DOC))
    with catalog.db.engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM connectors")).fetchall())
    assert "xoxb-very-secret-1" not in dump and "pl41n-pw" not in dump
    assert "#support" in dump  # plain fields stay readable for the portal
    import services.runtime as runtime
    from services.runtime import load_connector

    mp = pytest.MonkeyPatch()
    mp.setattr(runtime, "_catalog", catalog)
    try:
        slack = load_connector("support-slack")
    finally:
        mp.undo()
    assert slack.config.token.get_secret_value() == "xoxb-very-secret-1"  # type: ignore[attr-defined]


def test_validation_names_the_bad_field(catalog, env, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("HUBSPOT_TOKEN")
    bad = """
connectors:
  - {name: a, kind: slack, config: {token: x, channel: "#c", colour: red}}
  - {name: b, kind: nosuch}
  - {name: c, kind: hubspot, config: {access_token: "${HUBSPOT_TOKEN}"}}
  - {name: a, kind: webhook, config: {url: "ftp://x"}, on: every_hour}
"""
    with pytest.raises(ConfigFileError) as info:
        apply_document(catalog, load_yaml(bad))
    paths = {p for p, _ in info.value.problems}
    assert "connectors.0.config.colour" in paths
    assert "connectors.1.kind" in paths
    assert "connectors.2.config.access_token" in paths
    assert "connectors.3.on" in paths
    assert export_document(catalog).get("connectors") is None  # nothing applied


def test_connectors_missing_from_the_file_are_removed(catalog, env) -> None:  # type: ignore[no-untyped-def]
    apply_document(catalog, load_yaml(DOC))
    changes = apply_document(
        catalog,
        {
            "connectors": [
                {
                    "name": "crm",
                    "kind": "hubspot",
                    "config": {"access_token": "${HUBSPOT_TOKEN}"},
                    "on": "every_call",
                }
            ]
        },
    )
    assert changes == ["connectors.mail: removed", "connectors.support-slack: removed"]


def test_changed_secret_is_an_update(catalog, env, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    apply_document(catalog, load_yaml(DOC))
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-rotated")
    assert apply_document(catalog, load_yaml(DOC)) == ["connectors.support-slack: updated (slack)"]
