"""Role and group scoping (services.visibility) over a real migrated SQLite catalog."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalog.directory import Directory, DirectoryError
from catalog.models import Recording
from catalog.portal_queries import RecordingQuery, page_recordings
from catalog.users import ApiTokens, Role, Users
from services.visibility import (
    can_manage_user,
    can_see_recording,
    manageable_user_ids,
    visibility_for,
)


def _rec(catalog, frm: str, to: str, *, private: bool = False) -> Recording:
    rec = Recording(
        from_number=frm, to_number=to, private=private, started_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    return catalog.add_recording(rec)


@pytest.fixture
def org(catalog):
    users, d = Users(catalog), Directory(catalog)
    d.upsert_group("sales")
    d.upsert_group("sales-north", parent="sales")
    d.upsert_group("support")
    mk = {}
    for email, role in [
        ("admin@x.example", Role.admin),
        ("ga@x.example", Role.group_admin),
        ("sup@x.example", Role.supervisor),
        ("ann@x.example", Role.user),
        ("bob@x.example", Role.user),
        ("cat@x.example", Role.user),
    ]:
        mk[email.split("@")[0]] = users.create(email, role).user
    d.set_user_groups(mk["ga"].id, ["sales"])
    d.set_user_groups(mk["ann"].id, ["sales-north"])
    d.set_user_groups(mk["sup"].id, ["support"])
    d.set_user_groups(mk["bob"].id, ["support"])
    d.upsert_device("1001", user_email="ann@x.example")
    d.upsert_device("1002", user_email="bob@x.example")
    d.upsert_device("1003", user_email="cat@x.example")
    d.upsert_device("1009", user_email="ga@x.example")
    recs = {
        "ann": _rec(catalog, "1001", "+441632960001"),
        "bob": _rec(catalog, "+441632960002", "1002"),
        "cat": _rec(catalog, "1003", "+441632960003"),
        "ann_private": _rec(catalog, "1001", "+441632960004", private=True),
    }
    return mk, recs


def test_group_admin_sees_subgroup_members_but_not_other_groups(catalog, org):
    mk, recs = org
    ga = mk["ga"]
    assert can_see_recording(catalog, ga, recs["ann"])  # ann is in a subgroup of sales
    assert not can_see_recording(catalog, ga, recs["bob"])  # support
    assert not can_see_recording(catalog, ga, recs["cat"])  # no group
    assert not can_see_recording(catalog, ga, recs["ann_private"])  # private: owner and admins
    rows, _ = page_recordings(catalog, RecordingQuery(), visibility_for(catalog, ga))
    assert {r.id for r in rows} == {recs["ann"].id}


def test_supervisor_user_admin(catalog, org):
    mk, recs = org
    rows, _ = page_recordings(catalog, RecordingQuery(), visibility_for(catalog, mk["sup"]))
    assert {r.id for r in rows} == {recs["bob"].id}
    rows, _ = page_recordings(catalog, RecordingQuery(), visibility_for(catalog, mk["ann"]))
    assert {r.id for r in rows} == {recs["ann"].id, recs["ann_private"].id}
    rows, _ = page_recordings(catalog, RecordingQuery(), visibility_for(catalog, mk["admin"]))
    assert len(rows) == 4


def test_tokens_act_for_their_creator_and_stop_when_disabled(catalog, org):
    mk, recs = org
    tokens = ApiTokens(catalog)
    account_tok, _ = tokens.create("cli", created_by="cli:root")
    ann_tok, _ = tokens.create("ann's", created_by="ann@x.example")
    assert visibility_for(catalog, None, token=account_tok).allows(recs["cat"])
    assert not visibility_for(catalog, None, token=account_tok).allows(recs["ann_private"])
    assert not visibility_for(catalog, None, token=ann_tok).allows(recs["cat"])
    Users(catalog).update(mk["ann"].id, disabled=True)
    assert not visibility_for(catalog, None, token=ann_tok).allows(recs["ann"])


def test_who_manages_whom(catalog, org):
    mk, _ = org
    assert manageable_user_ids(catalog, mk["admin"]) is None
    assert manageable_user_ids(catalog, mk["ga"]) == {mk["ann"].id}
    assert can_manage_user(catalog, mk["ga"], mk["ann"].id)
    assert not can_manage_user(catalog, mk["ga"], mk["bob"].id)
    assert not can_manage_user(catalog, mk["sup"], mk["bob"].id)


def test_nesting_is_one_level(catalog, org):
    d = Directory(catalog)
    with pytest.raises(DirectoryError, match="one level"):
        d.upsert_group("sales-north-east", parent="sales-north")
    with pytest.raises(DirectoryError, match="subgroups"):
        d.upsert_group("sales", parent="support")
