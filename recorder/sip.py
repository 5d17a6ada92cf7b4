"""SIP messages: parse bytes into small objects and serialise responses (RFC 3261), no I/O.

The parser is deliberately forgiving where real equipment is sloppy (line folding, odd
whitespace, compact header names, bare LF line ends) and strict where sloppiness would be
dangerous (missing mandatory headers, Content-Length that does not fit). Anything it cannot
accept raises :class:`SipParseError` -- the only exception that may escape ``parse_message``;
its ``reason`` becomes the 400's reason phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_MESSAGE = 65535  # a UDP datagram; TCP messages get the same ceiling
MAX_HEADERS = 256

COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "r": "refer-to",
    "u": "allow-events",
    "x": "session-expires",
}

# How headers are spelled when we write them (RFC 3261 casing).
CANONICAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "rseq": "RSeq",
    "rack": "RAck",
    "mime-version": "MIME-Version",
}

_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~\-]+$")
_STATUS = re.compile(r"^SIP/2\.0\s+(\d{3})(?:\s+(.*))?$", re.IGNORECASE)
MANDATORY = ("via", "from", "to", "call-id", "cseq")


class SipParseError(ValueError):
    """The bytes are not a SIP message we can act on; ``reason`` is safe to send back, with
    ``status`` (400, or 505 for a SIP version other than 2.0)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def canonical_name(name: str) -> str:
    return CANONICAL.get(name) or "-".join(p.capitalize() for p in name.split("-"))


@dataclass(frozen=True, slots=True)
class SipMessage:
    """A request (``method`` set) or a response (``status`` set). Header names are lower case
    long forms; values keep their order and multiplicity."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str, default: str = "") -> str:
        for n, v in self.headers:
            if n == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value, comma-separated lists split (Via, Contact, Supported...)."""
        out: list[str] = []
        for n, v in self.headers:
            if n == name:
                out.extend(split_commas(v))
        return out

    @property
    def call_id(self) -> str:
        return self.get("call-id")

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.get("cseq"))

    @property
    def top_via(self) -> str:
        vias = self.get_all("via")
        return vias[0] if vias else ""

    @property
    def branch(self) -> str:
        return header_params(self.top_via).get("branch", "")

    @property
    def content_type(self) -> str:
        return self.get("content-type").split(";", 1)[0].strip().lower()


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    out, buf, quote, angle, esc = [], [], False, 0, False
    for ch in value:
        if esc:
            buf.append(ch)
            esc = False
            continue
        if ch == "\\" and quote:
            esc = True
        elif ch == '"':
            quote = not quote
        elif not quote and ch == "<":
            angle += 1
        elif not quote and ch == ">":
            angle = max(0, angle - 1)
        elif ch == "," and not quote and not angle:
            part = "".join(buf).strip()
            if part:
                out.append(part)
            buf = []
            continue
        buf.append(ch)
    part = "".join(buf).strip()
    if part:
        out.append(part)
    return out


def parse_cseq(value: str) -> tuple[int, str]:
    """RFC 3261 §8.1.1.5: the number is below 2**31 (leading zeros allowed), the method a token."""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not _TOKEN.match(parts[1]):
        raise SipParseError("Bad CSeq header")
    if len(parts[0].lstrip("0")) > 10 or int(parts[0]) >= 2**31:
        raise SipParseError("Bad CSeq header: sequence number out of range")
    return int(parts[0]), parts[1].upper()


def header_params(value: str) -> dict[str, str]:
    """``;name=value`` parameters after the last ``>`` (or after the first token)."""
    tail = value.rsplit(">", 1)[1] if ">" in value else value
    params: dict[str, str] = {}
    for part in tail.split(";")[1:]:
        name, _, val = part.partition("=")
        name = name.strip().lower()
        if name:
            params[name] = val.strip().strip('"')
    return params


@dataclass(frozen=True, slots=True)
class NameAddr:
    display_name: str = ""
    uri: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return self.params.get("tag", "")

    @property
    def user(self) -> str:
        return uri_user(self.uri)


def parse_name_addr(value: str) -> NameAddr:
    """``"Name" <sip:user@host>;tag=x`` or ``sip:user@host;tag=x``; never raises.

    Parsed per the ABNF (:func:`scan_name_addr`); a value that does not follow it (only seen in
    headers the parser does not validate) is read as well as it can be."""
    try:
        return scan_name_addr(value)
    except SipParseError:
        return _loose_name_addr(value)


def _loose_name_addr(value: str) -> NameAddr:
    value = value.strip()
    display = ""
    if "<" in value and ">" in value.split("<", 1)[1]:
        head, rest = value.split("<", 1)
        uri, _, tail = rest.partition(">")
        display = head.strip().strip('"')
        params = header_params(">" + tail)
    else:
        uri, _, tail = value.partition(";")
        params = header_params(";" + tail) if tail else {}
    return NameAddr(display_name=display.strip(), uri=uri.strip(), params=params)


_LWS = " \t"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"]+$")
# gen-value = token / host / quoted-string (host may be an IPv6 reference)
_GEN_VALUE = re.compile(r"^(?:[A-Za-z0-9.!%*_+`'~\-]+|\[[0-9A-Fa-f:.]+\])$")


def _scan_quoted(s: str, i: int) -> tuple[str, int]:
    """The quoted-string starting at ``s[i] == '"'``: (unescaped text, index after it)."""
    buf: list[str] = []
    j = i + 1
    while j < len(s):
        c = s[j]
        if c == "\\":
            if j + 1 >= len(s):
                break
            buf.append(s[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(buf), j + 1
        buf.append(c)
        j += 1
    raise SipParseError("unterminated quoted string")


def scan_params(tail: str) -> dict[str, str]:
    """``*( SEMI generic-param )`` strictly: every parameter has a token name; a value is a
    token, a host or a quoted-string. Empty parameters (``;;``) are refused (RFC 4475 §3.1.2.1)."""
    params: dict[str, str] = {}
    i, n = 0, len(tail)
    while True:
        while i < n and tail[i] in _LWS:
            i += 1
        if i >= n:
            return params
        if tail[i] != ";":
            raise SipParseError(f"unexpected {tail[i]!r} where a ;parameter should be")
        i += 1
        j = i
        while j < n and tail[j] not in ";=":
            j += 1
        name = tail[i:j].strip(_LWS)
        if not _TOKEN.match(name):
            raise SipParseError("empty or malformed parameter")
        value = ""
        i = j
        if i < n and tail[i] == "=":
            i += 1
            while i < n and tail[i] in _LWS:
                i += 1
            if i < n and tail[i] == '"':
                value, i = _scan_quoted(tail, i)
            else:
                j = i
                while j < n and tail[j] not in ";" + _LWS:
                    j += 1
                value = tail[i:j]
                if not _GEN_VALUE.match(value):
                    raise SipParseError(f"malformed value of parameter {name}")
                i = j
        params[name.lower()] = value


def scan_name_addr(value: str) -> NameAddr:
    """RFC 3261 §20.10/§25.1 ``(name-addr / addr-spec) *(SEMI param)``, strictly:

    * a quoted display name may contain ``<``, ``,`` and escapes (``"Smith <Sales>" <sip:…>``
      keeps its URI); an unterminated quote is an error (RFC 4475 §3.1.2.6);
    * an unquoted display name is tokens only (§3.1.2.15), except that bytes above ASCII
      are tolerated (real equipment sends unquoted UTF-8 names);
    * no whitespace inside ``<…>`` (§3.1.2.14); a URI with ``,``, ``?`` or ``;`` parameters of
      its own must be in ``<>`` (without them its ``;`` parameters are the header's).
    """
    s = value.strip(_LWS)
    display = ""
    if s.startswith('"'):
        display, i = _scan_quoted(s, 0)
        rest = s[i:].lstrip(_LWS)
        if not rest.startswith("<"):
            raise SipParseError("quoted display name not followed by <URI>")
        uri, tail = _angle(rest)
    elif "<" in s:
        head, _, rest = s.partition("<")
        words = head.split()
        for w in words:
            if not all(not ch.isascii() or _TOKEN.match(ch) for ch in w):
                raise SipParseError("display name needs quotes")
        display = " ".join(words)
        uri, tail = _angle("<" + rest)
    else:
        uri, sep, tail = s.partition(";")
        tail = sep + tail
        uri = uri.rstrip(_LWS)
        if any(c in uri for c in " \t,?"):
            raise SipParseError("URI with spaces, ',' or '?' must be enclosed in <>")
    if not _URI.match(uri):
        raise SipParseError("malformed URI")
    return NameAddr(display_name=display.strip(), uri=uri, params=scan_params(tail))


def _angle(rest: str) -> tuple[str, str]:
    close = rest.find(">")
    if close < 0:
        raise SipParseError("unterminated <URI>")
    uri = rest[1:close]
    if uri != uri.strip() or not uri:
        raise SipParseError("whitespace inside <URI>")
    return uri, rest[close + 1 :]


def uri_user(uri: str) -> str:
    """The number/user part: ``sip:+44123@host`` → ``+44123``; ``tel:+1555;x=y`` → ``+1555``."""
    scheme, _, rest = uri.partition(":")
    if not rest:
        return ""
    scheme = scheme.lower()
    if scheme == "tel":
        return rest.split(";", 1)[0]
    if "@" in rest:
        user = rest.split("@", 1)[0]
        return user.split(";", 1)[0].split(":", 1)[0]
    return ""


def parse_message(data: bytes, *, stream: bool = False) -> SipMessage:
    """Parse one whole message. ``stream`` (TCP) requires Content-Length (RFC 3261 §18.3)."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError("Message Too Large")
    sep = data.find(b"\r\n\r\n")
    if sep >= 0:
        head, body = data[:sep], data[sep + 4 :]
    else:
        sep = data.find(b"\n\n")
        if sep < 0:
            raise SipParseError("No end of headers")
        head, body = data[:sep], data[sep + 2 :]
    text = head.decode("utf-8", "replace")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # RFC 3261 §7.5: ignore leading empty lines
    if not lines:
        raise SipParseError("Empty message")
    start = lines[0]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("Continuation line before any header")
            n, v = headers[-1]
            headers[-1] = (n, f"{v} {line.strip()}".strip())  # line folding
            continue
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or not _TOKEN.match(name):
            raise SipParseError("Malformed header line")
        lname = name.lower()
        headers.append((COMPACT.get(lname, lname), value.strip()))
        if len(headers) > MAX_HEADERS:
            raise SipParseError("Too many headers")

    msg_kw: dict[str, object] = {}
    m = _STATUS.match(start.strip())
    if m:
        msg_kw = {"status": int(m.group(1)), "reason": (m.group(2) or "").strip()}
    else:
        method, uri = _request_line(start)
        msg_kw = {"method": method, "uri": uri}

    present = {n for n, _ in headers}
    for name in MANDATORY:
        if name not in present:
            raise SipParseError(f"Missing {canonical_name(name)} header")
    _num, cseq_method = parse_cseq(next(v for n, v in headers if n == "cseq"))
    if msg_kw.get("method") and cseq_method != msg_kw["method"]:
        raise SipParseError("CSeq method does not match request method")
    if not next(v for n, v in headers if n == "call-id").strip():
        raise SipParseError("Empty Call-ID header")
    if msg_kw.get("method"):
        _check_request_headers(headers)

    lengths = [v for n, v in headers if n == "content-length"]
    if lengths:
        raw = lengths[0].strip()
        if not raw.isdigit() or len(raw) > 6 or any(x.strip() != raw for x in lengths):
            raise SipParseError("Bad Content-Length header")
        clen = int(raw)
        if clen > len(body):
            raise SipParseError("Content-Length larger than body")
        body = body[:clen]
    elif stream:
        raise SipParseError("Missing Content-Length header")
    return SipMessage(headers=tuple(headers), body=bytes(body), **msg_kw)  # type: ignore[arg-type]


_REQUEST_LINE = re.compile(r"^(\S+) (\S+) (\S+)$")
_VERSION = re.compile(r"^SIP/(\d+)\.(\d+)$", re.IGNORECASE)


def _request_line(line: str) -> tuple[str, str]:
    """``Method SP Request-URI SP SIP-Version``, one SP each (RFC 3261 §7.1; RFC 4475 §3.1.2.7-11,
    §3.1.2.16)."""
    m = _REQUEST_LINE.match(line)
    if not m:
        raise SipParseError("Bad request line: elements must be separated by single spaces")
    method, uri, version = m.groups()
    if not _TOKEN.match(method):
        raise SipParseError("Bad request line: method is not a token")
    v = _VERSION.match(version)
    if not v:
        raise SipParseError("Bad request line: no SIP version")
    if (int(v.group(1)), int(v.group(2))) != (2, 0):
        raise SipParseError("Version Not Supported", 505)
    if uri.startswith("<"):
        raise SipParseError("Bad Request-URI: must not be enclosed in <>")
    if not _URI.match(uri):
        raise SipParseError("Bad Request-URI")
    scheme, _, rest = uri.partition(":")
    if scheme.lower() in ("sip", "sips") and "?" in rest.rsplit("@", 1)[-1]:
        raise SipParseError("Bad Request-URI: headers are not allowed in a Request-URI")
    return method.upper(), uri


_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$"
)
_VIA = re.compile(
    r"^SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*[A-Za-z0-9.!%*_+`'~\-]+[ \t]+"
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?:[ \t]*:[ \t]*\d{1,5})?(.*)$",
    re.IGNORECASE,
)


def _elements(value: str) -> list[str]:
    """Comma-separated elements, empty ones kept (so ``a,,b`` can be refused)."""
    out, buf, quote, angle, esc = [], [], False, 0, False
    for ch in value:
        if esc:
            esc = False
        elif ch == "\\" and quote:
            esc = True
        elif ch == '"':
            quote = not quote
        elif not quote and ch == "<":
            angle += 1
        elif not quote and ch == ">":
            angle = max(0, angle - 1)
        elif ch == "," and not quote and not angle:
            out.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    out.append("".join(buf).strip())
    return out


def _digits(name: str, value: str, limit: int) -> None:
    v = value.strip()
    if not v.isdigit() or not v.isascii() or len(v.lstrip("0")) > 12 or int(v) > limit:
        raise SipParseError(f"Bad {name} header: value out of range")


def _check_request_headers(headers: list[tuple[str, str]]) -> None:
    """The headers an element must understand, per their ABNF (RFC 4475 §3.1.2). Headers the
    recorder does not use are left alone, so real SIPREC equipment's extensions pass."""
    for name, value in headers:
        try:
            if name in ("from", "to"):
                scan_name_addr(value)
            elif name == "contact" and value.strip() != "*":
                for el in _elements(value):
                    if not el:
                        raise SipParseError("empty element")
                    scan_name_addr(el)
            elif name == "via":
                for el in _elements(value):
                    m = _VIA.match(el)
                    if not el or not m:
                        raise SipParseError("malformed sent-protocol or sent-by")
                    scan_params(m.group(1))
            elif name == "max-forwards":
                _digits("Max-Forwards", value, 255)
            elif name == "expires":
                _digits("Expires", value, 2**32 - 1)
            elif name == "date" and not _DATE.match(value.strip()):
                raise SipParseError("Bad Date header: not an RFC 1123 date in GMT")
        except SipParseError as e:
            if e.reason.startswith("Bad "):
                raise
            raise SipParseError(f"Bad {canonical_name(name)} header: {e.reason}") from None


class StreamFramer:
    """Cuts a TCP byte stream into messages by Content-Length (RFC 3261 §18.3).

    ``feed`` returns whole messages (as bytes) ready for :func:`parse_message`; a framing error
    (no usable Content-Length, oversize headers) raises SipParseError and the connection should
    be answered and closed, because the stream position is lost.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            while self._buf[:2] == b"\r\n":
                del self._buf[:2]  # keep-alive CRLFs (RFC 5626)
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_MESSAGE:
                    raise SipParseError("Message Too Large")
                return out
            head = bytes(self._buf[:end]).decode("utf-8", "replace")
            m = re.search(r"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\S*)", head)
            if not m:
                raise SipParseError("Missing Content-Length header")
            if not m.group(1).isdigit() or len(m.group(1)) > 6:
                raise SipParseError("Bad Content-Length header")
            total = end + 4 + int(m.group(1))
            if total > MAX_MESSAGE:
                raise SipParseError("Message Too Large")
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]


def format_via_for_response(via: str, source: tuple[str, int]) -> str:
    """RFC 3581/3261 §18.2.1: record where the request really came from."""
    host, port = source[0], source[1]
    parts = via.split(";")
    out = [parts[0]]
    seen_received = False
    for p in parts[1:]:
        name = p.split("=", 1)[0].strip().lower()
        if name == "rport":
            out.append(f"rport={port}")
        elif name == "received":
            out.append(f"received={host}")
            seen_received = True
        else:
            out.append(p)
    if not seen_received:
        out.append(f"received={host}")
    return ";".join(out)


def build_response(
    req: SipMessage,
    status: int,
    reason: str,
    *,
    source: tuple[str, int] | None = None,
    to_tag: str = "",
    extra: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str = "",
) -> bytes:
    """A response to ``req``: Via/From/To/Call-ID/CSeq copied (RFC 3261 §8.2.6)."""
    lines = [f"SIP/2.0 {status} {reason}"]
    vias = req.get_all("via")
    for i, via in enumerate(vias):
        if i == 0 and source is not None:
            via = format_via_for_response(via, source)
        lines.append(f"Via: {via}")
    lines.append(f"From: {req.get('from')}")
    to = req.get("to")
    if to_tag and "tag" not in parse_name_addr(to).params:
        to = f"{to};tag={to_tag}"
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {req.get('call-id')}")
    lines.append(f"CSeq: {req.get('cseq')}")
    for name, value in extra or ():
        lines.append(f"{name}: {value}")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + body


def build_request(
    method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"", content_type: str = ""
) -> bytes:
    lines = [f"{method} {uri} SIP/2.0"]
    lines += [f"{n}: {v}" for n, v in headers]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + body
