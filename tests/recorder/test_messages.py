"""SIP MESSAGE is validated as an SMS before it is answered: 4xx naming the field, no
SmsReceived, never 200 then dropped."""

from __future__ import annotations

import pytest

from recorder.core import SmsReceived
from recorder.messages import sms_checker
from tests.recorder.test_core import SRC, make_core, req, sends


@pytest.mark.parametrize(
    ("body", "frm", "status", "field"),
    [
        ("", "", 400, "text"),  # empty body
        ("   \r\n ", "", 400, "text"),  # only whitespace
        ("x" * 5000, "", 413, "text"),  # over the 1600-character default
        ("a\x00b", "", 400, "text"),  # NUL
        ("hello", "<sip:not%20a%20number!!@127.0.0.1>;tag=x", 400, "From"),
        ("hello", "<sip:127.0.0.1>;tag=x", 400, "From"),  # no user part at all
    ],
)
def test_invalid_sms_refused_before_answer(body: str, frm: str, status: int, field: str) -> None:
    core = make_core()
    acts = core.receive(
        req("MESSAGE", "m1", body=body, ctype="text/plain", frm=frm), SRC, now=0, wall=0
    )
    answers = sends(acts)
    assert [a.status for a in answers] == [status]
    assert field in answers[0].reason and field in answers[0].get("warning")
    assert not any(isinstance(a, SmsReceived) for a in acts)
    assert core.counters["message_refused"] == 1
    # a retransmission gets the same refusal (transaction cache), still nothing stored
    again = core.receive(
        req("MESSAGE", "m1", body=body, ctype="text/plain", frm=frm), SRC, now=1, wall=0
    )
    assert [a.status for a in sends(again)] == [status]
    assert not any(isinstance(a, SmsReceived) for a in again)


def test_limit_follows_the_configured_max_chars() -> None:
    limit = [10]
    core = make_core()
    core.check_sms = sms_checker(lambda: limit[0])
    assert (
        sends(
            core.receive(req("MESSAGE", "a", body="x" * 11, ctype="text/plain"), SRC, now=0, wall=0)
        )[0].status
        == 413
    )
    limit[0] = 20
    acts = core.receive(req("MESSAGE", "b", body="x" * 11, ctype="text/plain"), SRC, now=0, wall=0)
    assert sends(acts)[0].status == 200 and any(isinstance(a, SmsReceived) for a in acts)


def test_quotes_in_the_reason_do_not_break_the_warning_header() -> None:
    core = make_core()
    frm = "<sip:a'b@127.0.0.1>;tag=x"  # the validator's message quotes it as "a'b"
    acts = core.receive(
        req("MESSAGE", "q", body="hi", ctype="text/plain", frm=frm), SRC, now=0, wall=0
    )
    answer = sends(acts)[0]
    assert answer.status == 400
    warning = answer.get("warning")
    assert warning.startswith('399 recflow "') and warning.count('"') == 2
