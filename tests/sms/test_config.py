"""The `sms:` and `contacts:` config sections: validate everything, apply idempotently, export."""

from __future__ import annotations

import pytest

from catalog.sms import contacts, get_sms_settings
from services.config.base import ConfigFileError, load_yaml
from services.config.document import apply_document, export_document

DOC = """
account: {name: Acceptance Test}
sms:
  to_email: {enabled: true, to: sms-archive@check.example, connector: mail}
contacts:
  "+447700900127": Olive Sender
  "+44 1632 960559": Zoë Receiver
"""


def apply(catalog, text: str) -> list[str]:
    return apply_document(catalog, load_yaml(text))


def test_apply_is_idempotent_and_exports(sms_catalog):
    changes = apply(sms_catalog, DOC)
    assert any(c.startswith("sms.to_email") for c in changes)
    assert any("Olive Sender" in c for c in changes)
    settings = get_sms_settings(sms_catalog)
    assert settings.to_email.enabled and settings.to_email.to == ["sms-archive@check.example"]
    assert settings.to_email.header_prefix == "X-O2MR-"
    assert contacts(sms_catalog) == {
        "+447700900127": "Olive Sender",
        "+441632960559": "Zoë Receiver",
    }
    assert apply(sms_catalog, DOC) == []
    exported = export_document(sms_catalog)
    assert exported["sms"]["to_email"]["connector"] == "mail"
    assert exported["contacts"]["+447700900127"] == "Olive Sender"


@pytest.mark.parametrize(
    ("snippet", "path"),
    [
        ("sms: {to_email: {enabled: true, connector: mail}}", "sms.to_email.to"),
        ("sms: {to_email: {enabled: true, to: a@b.example}}", "sms.to_email.connector"),
        ("sms: {to_email: {enabled: true, to: not-an-address, connector: m}}", "sms.to_email.to"),
        ("sms: {to_email: {header_prefix: 'X O2'}}", "sms.to_email.header_prefix"),
        ("sms: {to_email: {colour: red}}", "sms.to_email.colour"),
        ("sms: {monthly_csv: {schedule: 'every day'}}", "sms.monthly_csv.schedule"),
        ("sms: {monthly_csv: {file_name: '{{ account '}}", "sms.monthly_csv.file_name"),
        ("sms: {subscribers: ['+44 what?']}", "sms.subscribers.0"),
        ("contacts: {'+44 what?': X}", "contacts.+44 what?"),
        ("contacts: {'+447700900127': ''}", "contacts.+447700900127"),
        ("contacts: {'+447700900127': A, '+44 7700 900127': B}", "contacts.+44 7700 900127"),
    ],
)
def test_bad_sections_name_the_field_and_change_nothing(sms_catalog, snippet, path):
    with pytest.raises(ConfigFileError) as err:
        apply(sms_catalog, snippet)
    assert path in [p for p, _ in err.value.problems], err.value.problems
    assert sms_catalog.get_document("sms") is None and contacts(sms_catalog) == {}


def test_connector_must_exist_when_the_file_declares_connectors(sms_catalog):
    doc = """
connectors: []
sms: {to_email: {enabled: true, to: a@b.example, connector: mail}}
"""
    with pytest.raises(ConfigFileError) as err:
        apply_document(sms_catalog, load_yaml(doc), dry_run=True)
    assert (
        "sms.to_email.connector",
        "no connector named 'mail' in this file",
    ) in err.value.problems
