"""What a SIP ``MESSAGE`` must be before the recorder answers 2xx to it (RFC 3428 §7: the
answer is final, so a message that would fail SMS validation is refused *before* it is
acknowledged, with a reason naming the field -- never 200 then dropped).

The rules are the SMS store's own (:mod:`catalog.sms`), so a MESSAGE the recorder accepts is one
the store accepts; the longest text is the account's ``sms.max_chars``, which the process wiring
passes in (and refreshes) through ``max_chars``.
"""

from __future__ import annotations

from collections.abc import Callable

from catalog.sms import MAX_SMS_CHARS, SmsValidationError, clean_number, clean_text

SmsCheck = Callable[[str, str, str], "tuple[int, str] | None"]
"""``check(from_number, to_number, text)`` -> None, or (status, reason) to refuse with."""


def sms_problem(
    from_number: str, to_number: str, text: str, max_chars: int = MAX_SMS_CHARS
) -> tuple[int, str] | None:
    try:
        clean_number(from_number, "From")
        clean_number(to_number, "To")
        clean_text(text, max_chars)
    except SmsValidationError as e:
        status = 413 if e.field == "text" and "limit" in e.message else 400
        return status, f"Invalid SMS {e.field}: {e.message}"
    return None


def sms_checker(max_chars: Callable[[], int]) -> SmsCheck:
    """A check whose text limit is read from ``max_chars()`` on every message."""

    def check(from_number: str, to_number: str, text: str) -> tuple[int, str] | None:
        return sms_problem(from_number, to_number, text, max_chars())

    return check
