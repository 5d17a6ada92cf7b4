"""E.164 normalisation for matching CRM records by phone number.

CRMs hold numbers in every format people type ("(415) 555-1212", "+44 7700 900124", "0044…");
comparing E.164 forms is what makes a call land on the right contact.
"""

from __future__ import annotations

import re

import phonenumbers


def e164(number: str, default_region: str = "US") -> str:
    """E.164 form of ``number`` ('' when it cannot be a phone number, e.g. an extension)."""
    raw = (number or "").strip()
    if not raw:
        return ""
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    raw = re.sub(r"^(sip:|tel:)", "", raw, flags=re.I).split("@", 1)[0]
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def same_number(a: str, b: str, default_region: str = "US") -> bool:
    ea, eb = e164(a, default_region), e164(b, default_region)
    return bool(ea) and ea == eb
