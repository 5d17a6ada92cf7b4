"""Ingest: validation names the field, nothing half-stored, retransmissions stored once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from catalog.models import Direction
from catalog.sms import (
    SmsSettings,
    SmsStatus,
    SmsValidationError,
    contact_names,
    get_sms,
    ingest_sms,
    ingest_sms_ex,
    list_sms,
    replace_contacts,
    save_sms_settings,
)
from catalog.sms_tables import SmsRow

T0 = datetime(2025, 5, 3, 10, 30, tzinfo=UTC)
GOOD = dict(from_number="+447700900127", to_number="+441632960559", text="hello", received_at=T0)


def count(catalog) -> int:
    with catalog.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(SmsRow)))


def test_stores_a_complete_pending_row(sms_catalog):
    sms = ingest_sms(sms_catalog, **GOOD, call_id="abc@host", from_name="Olive")
    again = get_sms(sms_catalog, sms.id)
    assert again == sms
    assert again.status is SmsStatus.pending
    assert again.received_at == T0 and again.received_at.tzinfo is not None
    assert again.source == "sip" and again.from_name == "Olive"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from_number": ""}, "from_number"),
        ({"from_number": None}, "from_number"),
        ({"to_number": "   "}, "to_number"),
        ({"to_number": "+44 not a number!"}, "to_number"),
        ({"received_at": "yesterday"}, "received_at"),
        ({"received_at": "2025-13-01T00:00:00Z"}, "received_at"),
        ({"received_at": None}, "received_at"),
        ({"received_at": "1970-01-01T00:00:00Z"}, "received_at"),
        ({"received_at": datetime.now(UTC) + timedelta(days=3)}, "received_at"),
        ({"text": ""}, "text"),
        ({"text": " \n\t "}, "text"),
        ({"text": "x" * 1601}, "text"),
        ({"text": b"caf\xe9"}, "text"),  # Latin-1, not UTF-8
        ({"text": b"\xf0\x9f\x98"}, "text"),  # truncated emoji
        ({"text": "bad \udcff surrogate"}, "text"),
        ({"text": "nul\x00inside"}, "text"),
        ({"subscriber": "+15550000000"}, "subscriber"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(sms_catalog, change, field):
    with pytest.raises(SmsValidationError) as err:
        ingest_sms(sms_catalog, **{**GOOD, **change})
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert count(sms_catalog) == 0


def test_limits_and_encodings_that_are_fine(sms_catalog):
    long = "é" * 1600
    assert ingest_sms(sms_catalog, **{**GOOD, "text": long}).text == long
    emoji = "☕🙂 مرحبا שלום".encode()
    assert ingest_sms(sms_catalog, **{**GOOD, "text": emoji}).text == emoji.decode()
    save_sms_settings(sms_catalog, SmsSettings(max_chars=10))
    with pytest.raises(SmsValidationError, match="limit is 10"):
        ingest_sms(sms_catalog, **{**GOOD, "text": "x" * 11})


def test_timestamp_forms(sms_catalog):
    forms = [
        "2025-05-03T10:30:00Z",
        "2025-05-03T11:30:00+01:00",
        "2025-05-03T10:30:00",
        T0.timestamp(),
    ]
    for i, ts in enumerate(forms):
        sms = ingest_sms(sms_catalog, **{**GOOD, "text": f"t{i}", "received_at": ts})
        assert sms.received_at == T0


def test_retransmitted_sip_message_is_stored_once(sms_catalog):
    first, new1 = ingest_sms_ex(sms_catalog, **GOOD, call_id="c1@pbx")
    # a retransmission arrives a little later: same Call-ID and content, new receive time
    second, new2 = ingest_sms_ex(
        sms_catalog, **{**GOOD, "received_at": T0 + timedelta(seconds=4)}, call_id="c1@pbx"
    )
    assert (new1, new2) == (True, False)
    assert second.id == first.id and count(sms_catalog) == 1
    # same Call-ID, different text: another message of the same conversation
    third = ingest_sms(sms_catalog, **{**GOOD, "text": "second message"}, call_id="c1@pbx")
    assert third.id != first.id and count(sms_catalog) == 2


def test_api_retry_without_call_id_is_stored_once(sms_catalog):
    a = ingest_sms(sms_catalog, **GOOD)
    b = ingest_sms(sms_catalog, **{**GOOD, "from_number": "+44 7700 900127"})  # same number
    assert a.id == b.id
    c = ingest_sms(sms_catalog, **{**GOOD, "received_at": T0 + timedelta(seconds=1)})
    assert c.id != a.id


def test_concurrent_duplicates_race_to_one_row(sms_catalog):
    ids: list[str] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            ids.append(ingest_sms(sms_catalog, **GOOD, call_id="race@pbx").id)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 1 and count(sms_catalog) == 1


def test_direction_from_the_subscriber(sms_catalog):
    out = ingest_sms(sms_catalog, **GOOD, subscriber="+447700900127")
    assert (out.direction, out.subscriber) == (Direction.outbound, "+447700900127")
    inbound = ingest_sms(sms_catalog, **{**GOOD, "text": "2"}, subscriber="+441632960559")
    assert inbound.direction is Direction.inbound
    # no subscriber given: the configured list decides, else the recipient is the subscriber
    default = ingest_sms(sms_catalog, **{**GOOD, "text": "3"})
    assert (default.direction, default.subscriber) == (Direction.inbound, "+441632960559")
    save_sms_settings(sms_catalog, SmsSettings(subscribers=["+44 7700 900127"]))
    listed = ingest_sms(sms_catalog, **{**GOOD, "text": "4"})
    assert (listed.direction, listed.subscriber) == (Direction.outbound, "+447700900127")


def test_alphanumeric_sender_ids_are_numbers_too(sms_catalog):
    sms = ingest_sms(sms_catalog, **{**GOOD, "from_number": "ACMEBANK"})
    assert sms.from_number == "ACMEBANK"


def test_contacts_match_formatting_variants(sms_catalog):
    changes = replace_contacts(sms_catalog, {"+44 7700 900127": "Olive Sender", "+15551234": "Bo"})
    assert len(changes) == 2
    assert contact_names(sms_catalog, ["+447700900127", "+441632960559"]) == {
        "+447700900127": "Olive Sender"
    }
    assert (
        replace_contacts(sms_catalog, {"+44 7700 900127": "Olive Sender", "+15551234": "Bo"}) == []
    )
    changes = replace_contacts(sms_catalog, {"+447700900127": "Olive S."})
    assert any("removed +15551234" in c for c in changes)
    assert contact_names(sms_catalog, ["+447700900127"]) == {"+447700900127": "Olive S."}


def test_list_newest_first_and_by_month(sms_catalog):
    for d in range(5):
        ingest_sms(
            sms_catalog, **{**GOOD, "text": f"m{d}", "received_at": T0 + timedelta(days=10 * d)}
        )
    assert [s.text for s in list_sms(sms_catalog)] == ["m4", "m3", "m2", "m1", "m0"]
    may = list_sms(
        sms_catalog, since=datetime(2025, 5, 1, tzinfo=UTC), until=datetime(2025, 6, 1, tzinfo=UTC)
    )
    assert sorted(s.text for s in may) == ["m0", "m1", "m2"]
    assert len(list_sms(sms_catalog, limit=2)) == 2
