"""/api/v1/users: create, list, role and groups, disable/enable (a disabled user's sessions and
API tokens stop at once), reset 2FA and password; a group admin manages and sees their groups
only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from catalog.audit import Audit
from catalog.directory import Directory
from catalog.users import Users
from tests.portal.portal_support import add_calls


def _client(app, token: str) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def account(app) -> TestClient:
    return _client(app, app.state.portal.tokens.create("server", created_by="cli:root")[1])


@pytest.fixture
def groups(catalog):
    d = Directory(catalog)
    d.upsert_group("sales")
    d.upsert_group("sales-north", parent="sales")
    d.upsert_group("support")
    return d


def test_create_list_update_and_the_secrets_shown_once(account, catalog, groups):
    r = account.post(
        "/api/v1/users",
        json={"email": "Ann@Example.com", "role": "supervisor", "groups": ["sales-north"]},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["email"] == "ann@example.com" and made["groups"] == ["sales-north"]
    assert len(made["initial_password"]) >= 12 and made["otpauth_uri"].startswith("otpauth://")
    assert made["must_change_password"] is True
    got = account.get(f"/api/v1/users/{made['id']}").json()
    assert "initial_password" not in got and "otpauth_uri" not in got
    assert [u["email"] for u in account.get("/api/v1/users").json()["items"]] == ["ann@example.com"]
    r = account.patch(
        f"/api/v1/users/{made['id']}", json={"role": "group_admin", "groups": ["sales"]}
    )
    assert (
        r.status_code == 200
        and r.json()["role"] == "group_admin"
        and r.json()["groups"] == ["sales"]
    )
    assert account.post("/api/v1/users", json={"email": "ann@example.com"}).status_code == 409
    bad = account.post("/api/v1/users", json={"email": "x@example.com", "role": "boss"})
    assert bad.status_code == 400 and "unknown role" in bad.json()["reason"]
    assert (
        account.post(
            "/api/v1/users", json={"email": "y@example.com", "groups": ["nope"]}
        ).status_code
        == 400
    )
    actions = Audit(catalog).actions()
    assert "user.create" in actions and "user.update" in actions


def test_disabled_user_token_and_session_stop_at_once(app, account, make_user, clock):
    from tests.portal.portal_support import logged_in

    ann = make_user("ann@example.com", "user")
    own = _client(app, app.state.portal.tokens.create("ann's", created_by="ann@example.com")[1])
    browser = logged_in(app, ann, clock)
    assert own.get("/api/v1/recordings").status_code == 200
    assert browser.get("/recordings", follow_redirects=False).status_code == 200
    r = account.patch(f"/api/v1/users/{ann.new.user.id}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert own.get("/api/v1/recordings").status_code == 401  # no clock moved, no cache to expire
    assert browser.get("/recordings", follow_redirects=False).status_code in (302, 303)
    account.patch(f"/api/v1/users/{ann.new.user.id}", json={"disabled": False})
    assert own.get("/api/v1/recordings").status_code == 200


def test_reset_2fa_and_password(account, catalog, make_user):
    ann = make_user("ann@example.com", "user")
    users = Users(catalog)
    users.finish_enrolment(ann.new.user.id)
    r = account.post(f"/api/v1/users/{ann.new.user.id}/reset-2fa")
    assert r.status_code == 200 and r.json()["otpauth_uri"].startswith("otpauth://")
    assert users.get(ann.new.user.id).totp_enrolled is False
    assert users.recovery_codes_left(ann.new.user.id) == 0
    r = account.post(f"/api/v1/users/{ann.new.user.id}/reset-password")
    pw = r.json()["password"]
    assert users.authenticate("ann@example.com", pw, ann.new.user.created_at).ok
    assert Directory(catalog).user_settings(ann.new.user.id).must_change_password


def test_last_admin_and_self(app, account, make_user):
    boss = make_user("boss@example.com", "admin")
    own = _client(app, app.state.portal.tokens.create("boss", created_by="boss@example.com")[1])
    assert (
        own.patch(f"/api/v1/users/{boss.new.user.id}", json={"disabled": True}).status_code == 403
    )
    r = account.patch(f"/api/v1/users/{boss.new.user.id}", json={"role": "user"})
    assert r.status_code == 409 and "last administrator" in r.json()["reason"]


def test_group_admin_scope(app, catalog, groups, make_user, clock, tmp_path):
    ga = make_user("ga@example.com", "group_admin")
    ann = make_user("ann@example.com", "user")
    bob = make_user("bob@example.com", "user")
    groups.set_user_groups(ga.new.user.id, ["sales"])
    groups.set_user_groups(ann.new.user.id, ["sales-north"])
    groups.set_user_groups(bob.new.user.id, ["support"])
    groups.upsert_device("1001", user_email="ann@example.com")
    groups.upsert_device("1002", user_email="bob@example.com")
    c = _client(app, app.state.portal.tokens.create("ga", created_by="ga@example.com")[1])
    assert [u["email"] for u in c.get("/api/v1/users").json()["items"]] == ["ann@example.com"]
    assert c.patch(f"/api/v1/users/{bob.new.user.id}", json={"disabled": True}).status_code == 404
    assert c.patch(f"/api/v1/users/{ann.new.user.id}", json={"role": "admin"}).status_code == 403
    assert (
        c.post("/api/v1/users", json={"email": "z@example.com", "groups": ["support"]}).status_code
        == 403
    )
    r = c.post("/api/v1/users", json={"email": "z@example.com", "groups": ["sales-north"]})
    assert r.status_code == 201
    calls = add_calls(
        catalog,
        tmp_path,
        clock.now,
        [
            {"from_number": "1001", "to_number": "+441632960001"},
            {"from_number": "+441632960002", "to_number": "1002"},
        ],
    )
    seen = {x["id"] for x in c.get("/api/v1/recordings").json()["items"]}
    assert seen == {calls[0].id}
    assert c.get(f"/api/v1/recordings/{calls[1].id}").status_code == 404
    # a plain user's token manages nobody
    u = _client(app, app.state.portal.tokens.create("ann", created_by="ann@example.com")[1])
    assert u.get("/api/v1/users").status_code == 403


def test_groups_and_devices_api(app, account, catalog, make_user):
    assert account.put("/api/v1/groups", json={"name": "sales"}).json()["changed"] is True
    assert account.put("/api/v1/groups", json={"name": "sales"}).json()["changed"] is False
    assert (
        account.put("/api/v1/groups", json={"name": "north", "parent": "sales"}).status_code == 200
    )
    r = account.put("/api/v1/groups", json={"name": "deep", "parent": "north"})
    assert r.status_code == 400 and "one level" in r.json()["reason"]
    assert account.delete("/api/v1/groups/sales").status_code == 409  # has a subgroup
    ga = make_user("ga@example.com", "group_admin")
    ann = make_user("ann@example.com", "user")
    make_user("bob@example.com", "user")
    d = Directory(catalog)
    d.set_user_groups(ga.new.user.id, ["sales"])
    d.set_user_groups(ann.new.user.id, ["north"])
    assert (
        account.put(
            "/api/v1/devices", json={"number": "1002", "user": "bob@example.com"}
        ).status_code
        == 200
    )
    g = _client(app, app.state.portal.tokens.create("ga", created_by="ga@example.com")[1])
    assert g.put("/api/v1/groups", json={"name": "x"}).status_code == 403
    assert (
        g.put("/api/v1/devices", json={"number": "1001", "user": "ann@example.com"}).status_code
        == 200
    )
    assert (
        g.put("/api/v1/devices", json={"number": "1003", "user": "bob@example.com"}).status_code
        == 403
    )
    assert (
        g.put("/api/v1/devices", json={"number": "1002", "user": "ann@example.com"}).status_code
        == 403
    )
    assert [x["number"] for x in g.get("/api/v1/devices").json()["items"]] == ["1001"]
    assert g.delete("/api/v1/devices/1002").status_code == 404
    assert {x["number"] for x in account.get("/api/v1/devices").json()["items"]} == {"1001", "1002"}
    assert d.snapshot().endpoint("1001").user == "ann@example.com"  # what the recorder decides by
    names = [x["name"] for x in g.get("/api/v1/groups").json()["items"]]
    assert names == ["north", "sales"]
    assert account.delete("/api/v1/devices/1002").status_code == 204


def test_call_record_start_stop_are_queued_for_the_recorder(app, account, catalog, make_user):
    from catalog.directory import finish_call_command, pending_call_commands

    r = account.post("/api/v1/calls/abc@pbx.example/record")
    assert r.status_code == 202 and r.json()["action"] == "start"
    cid = r.json()["command_id"]
    assert account.delete("/api/v1/calls/abc@pbx.example/record").json()["action"] == "stop"
    assert [(c, a) for _, c, a in pending_call_commands(catalog)] == [
        ("abc@pbx.example", "start"),
        ("abc@pbx.example", "stop"),
    ]
    assert account.get(f"/api/v1/call-commands/{cid}").json()["done"] is False
    finish_call_command(catalog, cid, "applied")  # what the recorder does
    assert account.get(f"/api/v1/call-commands/{cid}").json()["outcome"] == "applied"
    # ids past the 64-bit range are invalid input (422), not an overflow in the SQL driver
    assert account.get(f"/api/v1/call-commands/{2**63}").status_code == 422
    assert account.get("/api/v1/call-commands/999999").status_code == 404
    make_user("ann@example.com", "user")
    u = _client(app, app.state.portal.tokens.create("ann", created_by="ann@example.com")[1])
    assert u.post("/api/v1/calls/abc@pbx.example/record").status_code == 403
