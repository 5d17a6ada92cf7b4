"""Pure formatting of SMS: the SMS-to-email message and the monthly CSV (no Prefect, no I/O).

Both formats are fixed by the Focus seed ("SMS to Email", "SFTP Structure → SMS") and both are
templates an administrator can change: the email's subject and body are the template files
``templates/defaults/sms/email_*.txt.j2`` (overridable under ``$RECFLOW_DATA_DIR/templates/`` or
inline in the ``sms.to_email`` settings), the CSV file name is the ``sms.monthly_csv.file_name``
template. The defaults reproduce the seed so existing archive consumers keep working.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import textwrap
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field

from catalog.sms import Sms, SmsCsvSettings, SmsEmailSettings
from templates.render import render, render_string, safe_relative_path

SUBJECT_TEMPLATE = "sms/email_subject.txt.j2"
BODY_TEMPLATE = "sms/email_body.txt.j2"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # the seed's "UTC timestamp"; the CSV uses the same
# RFC 5322 allows 998-character lines; folding at 78 makes Python split a subject next to an
# encoded word, which readers unfold into a doubled space ("559  (Zoë …)")
_POLICY = SMTP.clone(max_line_length=998)
CSV_COLUMNS = ("Message ID", "Date time (UTC)", "From phone number", "To phone number", "Message")


class SmsEmailContext(BaseModel):
    """What the SMS email templates see."""

    model_config = ConfigDict(extra="forbid")

    sms: dict[str, Any] = Field(
        description="The SMS's catalog fields (id, subscriber, direction …)"
    )
    account: str = Field(description="Account name")
    static_text: str = Field(description="The static prefix text (default 'O2 MR SMS from')")
    from_number: str = Field(description="Sender number")
    from_name: str = Field(description="Sender name when known, else ''")
    from_label: str = Field(description="Sender number, with '(name)' when the name is known")
    to_number: str = Field(description="Recipient number")
    to_name: str = Field(description="Recipient name when known, else ''")
    to_label: str = Field(description="Recipient number, with '(name)' when the name is known")
    timestamp: str = Field(description="When the SMS was sent, UTC, 'YYYY-MM-DD HH:MM:SS'")
    from_address: str = Field(description="Address the email is sent from")
    to_address: str = Field(description="Address(es) the email is sent to, comma-separated")
    text_base64: str = Field(description="The message: base64 of its UTF-8 bytes, one line")
    text_base64_wrapped: str = Field(description="The same, in 76-character lines (MIME)")


def label(number: str, name: str) -> str:
    """The seed: "If a name is known for the number it will be shown in brackets"."""
    return f"{number} ({name})" if name else number


def known_name(number: str, directory: Mapping[str, str], signalled: str = "") -> str:
    """The contacts directory first (the administrator's word), then the signalled name."""
    return directory.get(number) or signalled


def message_id(sms: Sms, from_address: str) -> str:
    """Deterministic, so a resend after a crash is recognisable as the same message."""
    domain = from_address.rpartition("@")[2] or "recflow.invalid"
    domain = re.sub(r"[^A-Za-z0-9.\-]", "", domain) or "recflow.invalid"
    return f"<sms-{sms.id}@{domain}>"


def email_context(
    sms: Sms,
    *,
    names: Mapping[str, str],
    settings: SmsEmailSettings,
    from_address: str,
    account: str,
) -> SmsEmailContext:
    from_name = known_name(sms.from_number, names, sms.from_name)
    to_name = known_name(sms.to_number, names, sms.to_name)
    b64 = base64.b64encode(sms.text.encode("utf-8")).decode("ascii")
    return SmsEmailContext(
        sms=sms.model_dump(mode="json"),
        account=account,
        static_text=settings.static_text,
        from_number=sms.from_number,
        from_name=from_name,
        from_label=label(sms.from_number, from_name),
        to_number=sms.to_number,
        to_name=to_name,
        to_label=label(sms.to_number, to_name),
        timestamp=sms.received_at.astimezone(UTC).strftime(TIME_FORMAT),
        from_address=from_address,
        to_address=", ".join(settings.to),
        text_base64=b64,
        text_base64_wrapped="\n".join(textwrap.wrap(b64, 76)) if b64 else "",
    )


def build_sms_email(
    sms: Sms,
    *,
    names: Mapping[str, str],
    settings: SmsEmailSettings,
    from_address: str,
    account: str = "recflow",
) -> EmailMessage:
    """The email for one SMS: seed layout, prefixed headers, deterministic Message-ID."""
    ctx = email_context(
        sms, names=names, settings=settings, from_address=from_address, account=account
    )
    if settings.subject_template:
        subject = render_string(settings.subject_template, ctx, name="sms.to_email.subject")
    else:
        subject = render(SUBJECT_TEMPLATE, ctx)
    if settings.body_template:
        body = render_string(settings.body_template, ctx, name="sms.to_email.body").strip()
    else:
        body = render(BODY_TEMPLATE, ctx)
    p = settings.header_prefix
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = from_address
    msg["To"] = ", ".join(formataddr(("", a)) for a in settings.to)
    # a subject is one line; a template that spills over would break the header
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = format_datetime(sms.received_at.astimezone(UTC))
    msg["Message-ID"] = message_id(sms, from_address)
    msg[f"{p}Interaction-ID"] = sms.id
    msg[f"{p}SMS-SUBSCRIBER"] = sms.subscriber
    msg[f"{p}SMS-FROM"] = sms.from_number
    msg[f"{p}SMS-TO"] = sms.to_number
    msg.set_content(body + "\n", charset="utf-8")
    return msg


# ---------------------------------------------------------------------------- monthly CSV


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def parse_month(value: str) -> tuple[int, int]:
    """``2025-05`` (or ``2025/05``) → (2025, 5)."""
    m = re.fullmatch(r"\s*(\d{4})[-/](\d{1,2})\s*", value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"not a month: {value!r} (expected YYYY-MM, e.g. 2025-05)")
    return int(m.group(1)), int(m.group(2))


def account_id(settings: SmsCsvSettings, account_name: str) -> str:
    """The seed's "account ID" in file names: configured, else the account name made safe."""
    raw = settings.account_id or account_name
    return re.sub(r"[^A-Za-z0-9.\-]+", "-", raw).strip("-.") or "account"


def csv_file_name(settings: SmsCsvSettings, account_name: str, year: int, month: int) -> str:
    """``<account>_SMSMessages_<YYYY>_<MM>.csv`` by default; never a path outside its folder."""
    rendered = render_string(
        settings.file_name,
        {
            "account": account_id(settings, account_name),
            "year": f"{year:04d}",
            "month": f"{month:02d}",
        },
        name="sms.monthly_csv.file_name",
    )
    return safe_relative_path(rendered).replace("/", "_")


def csv_key(file_name: str, year: int, month: int) -> str:
    """Where archive destinations put it: the seed's ``CSV/Monthly/YYYY/MM/``."""
    return f"CSV/Monthly/{year:04d}/{month:02d}/{file_name}"


def csv_row(sms: Sms) -> list[str]:
    return [
        sms.id,
        sms.received_at.astimezone(UTC).strftime(TIME_FORMAT),
        sms.from_number,
        sms.to_number,
        sms.text,
    ]


def write_csv(messages: Iterable[Sms], out: TextIO) -> int:
    """RFC 4180: CRLF line ends, fields with commas, quotes or newlines quoted, quotes doubled.
    The header row is always written, so an empty month is a valid file. Returns the row count."""
    w = csv.writer(out, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(CSV_COLUMNS)
    n = 0
    for sms in messages:
        w.writerow(csv_row(sms))
        n += 1
    return n


def csv_text(messages: Iterable[Sms]) -> str:
    buf = io.StringIO(newline="")
    write_csv(messages, buf)
    return buf.getvalue()
