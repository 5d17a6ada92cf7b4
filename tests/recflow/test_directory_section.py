"""`groups:`, `users:`, `devices:` and `recording_policy:` in `recflow config apply`: applied in
order, idempotent, exported back, refused with the path of the bad field, and what the recorder
decides from the result."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.directory import Directory
from catalog.repository import Catalog
from catalog.settings import RecflowSettings
from catalog.users import Users
from services.config.base import ConfigFileError
from services.config.document import apply_document, export_document

DOC = yaml.safe_load("""
groups:
  sales: {}
  sales-north: {parent: sales, language: fr}
users:
  ann@example.com: {role: user, groups: [sales-north]}
  ga@example.com: {role: group_admin, groups: [sales]}
devices:
  "1001": {user: ann@example.com, name: Ann desk}
  "+447700900123": {}
recording_policy:
  account: {inbound: {internal: off, external: off}, outbound: {internal: off, external: off}}
  users: {ann@example.com: {outbound: {external: on}}}
  devices: {"+447700900123": {inbound: {external: on}}}
""")


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    return Catalog.open(RecflowSettings(data_dir=tmp_path))


def test_apply_is_idempotent_and_exports_back(cat):
    changes = apply_document(cat, DOC)
    assert any("ann@example.com created" in c for c in changes)
    assert apply_document(cat, DOC) == []
    out = export_document(cat)
    assert out["groups"] == DOC["groups"] and out["devices"] == {
        "1001": {"user": "ann@example.com", "name": "Ann desk"},
        "+447700900123": {},
    }
    assert apply_document(cat, out) == []  # the export is itself an applicable file
    assert out["users"]["ann@example.com"] == {"role": "user", "groups": ["sales-north"]}
    d = Directory(cat)
    ann = Users(cat).by_email("ann@example.com")
    assert d.user_settings(ann.id).must_change_password  # no password in the file: reset first
    snap = d.snapshot()
    assert snap.decide("1001", "+441632960555").as_dict() == {
        "decision": "recorded",
        "rule": "user.outbound.external",
    }
    assert snap.decide("+441632960555", "+447700900123").rule == "device.inbound.external"
    assert snap.decide("+441632960555", "1001").as_dict() == {
        "decision": "not_recorded",
        "rule": "account.inbound.external",
    }


def test_removing_from_the_file_removes_groups_and_devices_not_users(cat):
    apply_document(cat, DOC)
    smaller = {
        **DOC,
        "devices": {"1001": {"user": "ann@example.com"}},
        "groups": {"sales": {}},
        "users": {
            "ann@example.com": {"groups": []},
            "ga@example.com": {"role": "group_admin", "groups": ["sales"]},
        },
    }
    changes = apply_document(cat, smaller)
    assert "devices: +447700900123 removed" in changes and "groups: sales-north removed" in changes
    assert Users(cat).by_email("ann@example.com") is not None


@pytest.mark.parametrize(
    "doc,path",
    [
        ({"groups": {"a": {"parent": "b"}}}, "groups.a.parent"),
        ({"groups": {"a": {}, "b": {"parent": "a"}, "c": {"parent": "b"}}}, "groups.c.parent"),
        ({"users": {"x@example.com": {"role": "emperor"}}}, "users.x@example.com.role"),
        ({"users": {"x@example.com": {"groups": ["nope"]}}}, "users.x@example.com.groups"),
        ({"devices": {"1001": {"user": "ghost@example.com"}}}, "devices.1001.user"),
        (
            {"recording_policy": {"account": {"inbound": {"internal": "maybe"}}}},
            "recording_policy.account.inbound.internal",
        ),
        ({"recording_policy": {"users": {"nobody": {}}}}, "recording_policy.users"),
    ],
)
def test_bad_files_name_the_field(cat, doc, path):
    with pytest.raises(ConfigFileError) as e:
        apply_document(cat, doc)
    assert any(p.startswith(path) for p, _ in e.value.problems), e.value.problems
    assert Directory(cat).groups() == []  # nothing applied
