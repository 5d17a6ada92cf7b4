"""KAZOO precedence, one row per branch, each row checked against the seed's own words
(../shared/seeds/002_f7e089d5d412c3c1.txt, FAQ "What settings take precedence…" and the Devices
tab); pure evaluator, no I/O. The SIPp tests in tests/recorder/test_policy_calls.py drive the
same table through the real recorder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.recording_policy import PolicySnapshot, RecordingPolicy, norm_number

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "002_f7e089d5d412c3c1.txt"

ANN = "ann@example.com"  # owns device 1001
# (id, seed phrase the row illustrates, policy yaml, from, to, decision, rule)
ROWS = [
    (
        "device_off_beats_user_on",
        "If a user turns on call recording but a device has explicitly disabled it, the device will not be recorded",
        "users: {ann@example.com: {outbound: {external: on}}}\ndevices: {'1001': {outbound: {external: off}}}",
        "1001",
        "+441632960555",
        "not_recorded",
        "device.outbound.external",
    ),
    (
        "device_undefined_falls_back_to_user",
        "If the device\u2019s settings are left undefined, the user\u2019s settings will be applied.",
        "users: {ann@example.com: {outbound: {external: on}}}\ndevices: {'1001': {inbound: {external: off}}}",
        "1001",
        "+441632960555",
        "recorded",
        "user.outbound.external",
    ),
    (
        "account_on_records_user_who_switched_off",
        "a user who has disabled recording, within an account that has enabled recording, will still have calls recorded according to the account",
        "account: {outbound: {external: on}}\nusers: {ann@example.com: {outbound: {external: off}}}",
        "1001",
        "+441632960555",
        "recorded",
        "account.outbound.external",
    ),
    (
        "device_without_user_inherits_account",
        "If the device is not associated with a User, the device will inherit from the Account Settings",
        "account: {inbound: {external: on}}\ndevices: {'2002': {outbound: {external: off}}}",
        "+441632960555",
        "2002",
        "recorded",
        "account.inbound.external",
    ),
    (
        "device_on_in_account_off",
        "per-device settings that override the default user settings",
        "account: {inbound: {external: off, internal: off}, outbound: {external: off, internal: off}}\n"
        "devices: {'+447700900123': {outbound: {external: on}}}",
        "+447700900123",
        "+441632960555",
        "recorded",
        "device.outbound.external",
    ),
    (
        "account_off_unknown_parties",
        "Force Record Entire Account",
        "account: {inbound: {external: off}}",
        "+447700900999",
        "+441632960555",
        "not_recorded",
        "account.inbound.external",
    ),
    (
        "internal_call_recorded_by_callee_leg",
        "You can indicate if you want to force inbound, outbound, and/or internal and external calls.",
        "users: {ann@example.com: {inbound: {internal: on}}}\ndevices: {'2002': {}}",
        "2002",
        "1001",
        "recorded",
        "user.inbound.internal",
    ),
    (
        "on_demand_from_user",
        "allows all  objects under the account to press a defined feature code during a call and start the recording",
        "users: {ann@example.com: {inbound: {external: on_demand}}}",
        "+441632960555",
        "1001",
        "on_demand",
        "user.inbound.external",
    ),
]


def _snapshot(policy_yaml: str) -> PolicySnapshot:
    policy = RecordingPolicy.model_validate(yaml.safe_load(policy_yaml))
    return PolicySnapshot.build(policy, [("1001", ANN)])


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_precedence(row):
    _, _, policy, frm, to, decision, rule = row
    d = _snapshot(policy).decide(frm, to)
    assert (d.decision, d.rule) == (decision, rule)


@pytest.mark.skipif(not SEED.exists(), reason="seed not checked out next to the project")
def test_rows_quote_the_seed():
    text = " ".join(SEED.read_text().split())
    for row in ROWS:
        assert " ".join(row[1].split()) in text, row[0]


def test_no_policy_records_everything():
    d = PolicySnapshot.build(None, []).decide("1", "2")
    assert (d.decision, d.rule) == ("recorded", "default")


def test_yaml_on_off_booleans_and_bad_values():
    p = RecordingPolicy.model_validate(
        yaml.safe_load("account: {inbound: {internal: on, external: off}}")
    )
    assert (p.account.inbound.internal, p.account.inbound.external) == ("on", "off")
    with pytest.raises(ValueError):
        RecordingPolicy.model_validate({"account": {"inbound": {"internal": "sometimes"}}})
    with pytest.raises(ValueError):
        RecordingPolicy.model_validate({"users": {"not-an-email": {}}})


def test_numbers_match_across_formats():
    assert norm_number("+44 7700-900123") == norm_number("447700900123")
    assert norm_number("sip:1001@pbx.example;user=phone") == "1001"
    snap = _snapshot("devices: {'+447700900123': {outbound: {external: on}}}")
    assert snap.decide("sip:+447700900123@10.0.0.1", "+441632960555").decision == "recorded"
