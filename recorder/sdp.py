"""SDP (RFC 4566) parsing and the recorder's answer (RFC 3264), plus SIPREC bodies.

A recorder answers every offered audio stream it can decode with one of its own RTP ports and
``a=recvonly``; streams it cannot take are rejected with port 0, as offer/answer requires.
SIPREC (RFC 7866) offers arrive in a multipart/mixed body next to the recording metadata
(RFC 7865); the metadata parser tolerates pre-standard namespaces and missing fields because
real SBCs send them.
"""

from __future__ import annotations

import base64
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

# Static payload types we decode; dynamic ones are matched by rtpmap name.
CODECS = {"PCMU": 0, "PCMA": 8}
STATIC_NAMES = {0: "PCMU", 8: "PCMA", 9: "G722", 18: "G729", 3: "GSM", 13: "CN"}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
DEFAULT_DTMF_PT = 101


class SdpError(ValueError):
    pass


@dataclass(slots=True)
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[int]
    connection: str = ""
    rtpmap: dict[int, str] = field(default_factory=dict)  # pt -> "PCMU/8000"
    direction: str = ""
    label: str = ""
    attributes: list[tuple[str, str]] = field(default_factory=list)

    def codec_name(self, pt: int) -> str:
        if pt in self.rtpmap:
            return self.rtpmap[pt].split("/", 1)[0].upper()
        return STATIC_NAMES.get(pt, "")

    def telephone_event_pts(self) -> set[int]:
        return {pt for pt in self.formats if self.codec_name(pt) == "TELEPHONE-EVENT"}


@dataclass(slots=True)
class SessionDescription:
    origin: str = ""
    connection: str = ""
    direction: str = ""
    media: list[MediaDescription] = field(default_factory=list)

    def media_direction(self, m: MediaDescription) -> str:
        return m.direction or self.direction or "sendrecv"

    def media_address(self, m: MediaDescription) -> str:
        return m.connection or self.connection


def _conn_addr(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN":
        raise SdpError("bad c= line")
    return parts[2].split("/", 1)[0]


def parse_sdp(body: bytes) -> SessionDescription:
    text = body.decode("utf-8", "replace")
    sd = SessionDescription()
    cur: MediaDescription | None = None
    seen_v = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError("bad SDP line")
        kind, value = line[0], line[2:].strip()
        if kind == "v":
            seen_v = True
        elif kind == "o" and cur is None:
            sd.origin = value
        elif kind == "c":
            if cur is None:
                sd.connection = _conn_addr(value)
            else:
                cur.connection = _conn_addr(value)
        elif kind == "m":
            parts = value.split()
            if len(parts) < 3:
                raise SdpError("bad m= line")
            port_s = parts[1].split("/", 1)[0]
            if not port_s.isdigit() or int(port_s) > 65535:
                raise SdpError("bad m= port")
            fmts = [int(f) for f in parts[3:] if f.isdigit() and int(f) < 128]
            cur = MediaDescription(parts[0].lower(), int(port_s), parts[2], fmts)
            sd.media.append(cur)
        elif kind == "a":
            name, _, val = value.partition(":")
            name = name.strip().lower()
            if name in DIRECTIONS:
                if cur is None:
                    sd.direction = name
                else:
                    cur.direction = name
            elif cur is not None:
                cur.attributes.append((name, val))
                if name == "rtpmap":
                    pt_s, _, enc = val.partition(" ")
                    if pt_s.isdigit():
                        cur.rtpmap[int(pt_s)] = enc.strip()
                elif name == "label":
                    cur.label = val.strip()
    if not seen_v or (not sd.media and not sd.origin):
        raise SdpError("not an SDP body")
    return sd


# SDES (RFC 4568) suites the recorder can decrypt, by libsrtp profile name
SRTP_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
SRTP_KEY_LEN = 30  # 16-byte master key + 14-byte master salt (both AES_CM_128 suites)


@dataclass(frozen=True, slots=True)
class Crypto:
    """One ``a=crypto`` line: tag, suite, master key + salt (inline key)."""

    tag: int
    suite: str
    key: bytes

    def line(self) -> str:
        return f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


def is_srtp(m: MediaDescription) -> bool:
    return m.proto.upper() in ("RTP/SAVP", "RTP/SAVPF")


def choose_crypto(m: MediaDescription) -> Crypto | None:
    """The first offered ``a=crypto`` with a suite we support and a usable inline key (no
    MKI, no session parameters we would have to honour); None when there is none."""
    for name, value in m.attributes:
        if name != "crypto":
            continue
        parts = value.split()
        if len(parts) < 3 or not parts[0].isdigit() or parts[1].upper() not in SRTP_SUITES:
            continue
        if len(parts) > 3:
            continue  # session parameters (UNENCRYPTED_SRTP, KDR...): not supported
        method, _, key_info = parts[2].partition(":")
        if method.lower() != "inline":
            continue
        key_b64, *extra = key_info.split("|")
        if any(":" in x for x in extra):
            continue  # an MKI
        try:
            key = base64.b64decode(key_b64, validate=True)
        except ValueError:
            continue
        if len(key) != SRTP_KEY_LEN:
            continue
        return Crypto(int(parts[0]), parts[1].upper(), key)
    return None


def local_crypto(offered: Crypto | None) -> Crypto | None:
    """Our answer's ``a=crypto``: the offered tag and suite with a fresh key of ours."""
    if offered is None:
        return None
    return Crypto(offered.tag, offered.suite, os.urandom(SRTP_KEY_LEN))


@dataclass(slots=True)
class AnsweredStream:
    """What we agreed for one offered m-line."""

    index: int
    port: int  # our RTP port; 0 = rejected
    codecs: dict[int, str]  # audio payload types we accept on it
    dtmf_pts: set[int]
    peer_host: str
    peer_port: int
    label: str
    direction: str
    crypto: Crypto | None = None  # the peer's SDES key (SRTP); None = plain RTP
    local_crypto: Crypto | None = None  # ours, in the answer (we send nothing with it)


def choose_formats(m: MediaDescription) -> tuple[dict[int, str], set[int]]:
    codecs = {pt: m.codec_name(pt) for pt in m.formats if m.codec_name(pt) in CODECS}
    return codecs, m.telephone_event_pts()


def build_answer(
    offer: SessionDescription,
    ports: list[int],
    streams: list[AnsweredStream],
    *,
    host: str,
    session_id: int,
    version: int,
) -> bytes:
    """The answer: one m-line per offered m-line, in order (RFC 3264 §6)."""
    lines = [
        "v=0",
        f"o=recflow {session_id} {version} IN IP4 {host}",
        "s=recflow recorder",
        f"c=IN IP4 {host}",
        "t=0 0",
    ]
    by_index = {s.index: s for s in streams}
    for i, m in enumerate(offer.media):
        st = by_index.get(i)
        if st is None or st.port == 0:
            fmt = " ".join(str(f) for f in m.formats) or "0"
            lines.append(f"m={m.media} 0 {m.proto} {fmt}")
            continue
        fmts = [*st.codecs, *sorted(st.dtmf_pts)]
        proto = m.proto if st.crypto is not None else "RTP/AVP"
        lines.append(f"m=audio {st.port} {proto} {' '.join(str(f) for f in fmts)}")
        if st.local_crypto is not None:
            lines.append(f"a=crypto:{st.local_crypto.line()}")
        for pt, name in st.codecs.items():
            lines.append(f"a=rtpmap:{pt} {name}/8000")
        for pt in sorted(st.dtmf_pts):
            lines.append(f"a=rtpmap:{pt} telephone-event/8000")
            lines.append(f"a=fmtp:{pt} 0-16")
        if st.label:
            lines.append(f"a=label:{st.label}")
        lines.append("a=ptime:20")
        lines.append("a=inactive" if st.direction == "inactive" else "a=recvonly")
    return ("\r\n".join(lines) + "\r\n").encode()


# ---------------------------------------------------------------- multipart and SIPREC metadata


def split_multipart(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """Parts of a multipart body as (content-type, bytes); tolerant of LF-only line ends."""
    m = re.search(r'boundary\s*=\s*"?([^";]+)"?', content_type, re.IGNORECASE)
    if not m:
        raise SdpError("multipart without boundary")
    delim = b"--" + m.group(1).strip().encode()
    parts: list[tuple[str, bytes]] = []
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.lstrip(b"\r\n") if chunk[:1] in (b"\r", b"\n") else chunk
        sep = chunk.find(b"\r\n\r\n")
        skip = 4
        if sep < 0:
            sep, skip = chunk.find(b"\n\n"), 2
        if sep < 0:
            continue
        head = chunk[:sep].decode("utf-8", "replace")
        content = chunk[sep + skip :]
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        ctype = ""
        for line in head.splitlines():
            name, _, val = line.partition(":")
            if name.strip().lower() == "content-type":
                ctype = val.strip()
        parts.append((ctype, content))
    return parts


@dataclass(slots=True)
class SiprecParticipant:
    participant_id: str
    aor: str = ""
    name: str = ""
    send: list[str] = field(default_factory=list)  # stream ids this participant sends


@dataclass(slots=True)
class SiprecMetadata:
    participants: list[SiprecParticipant] = field(default_factory=list)
    stream_labels: dict[str, str] = field(default_factory=dict)  # stream id -> SDP label
    direction: str = ""

    def participant_for_label(self, label: str) -> SiprecParticipant | None:
        stream_ids = [sid for sid, lab in self.stream_labels.items() if lab == label]
        for p in self.participants:
            if any(sid in p.send for sid in stream_ids):
                return p
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _attr(el: ET.Element, name: str) -> str:
    for k, v in el.attrib.items():
        if _local(k) == name.lower():
            return v
    return ""


def parse_rs_metadata(xml: bytes) -> SiprecMetadata:
    """RFC 7865 metadata, read by local element names so that any namespace (or none) works.

    Accepts both the standard shape (``participant`` + ``participantstreamassoc``) and the
    pre-standard one where ``send`` lives inside ``participant``.
    """
    meta = SiprecMetadata()
    try:
        # defusedxml: no DTDs, entities or external references from a SIP peer
        root = defused_fromstring(xml, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException):
        return meta  # metadata is informative; a broken document must not lose the call
    by_id: dict[str, SiprecParticipant] = {}
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "participant":
            pid = _attr(el, "participant_id") or _attr(el, "id") or f"p{len(by_id)}"
            p = by_id.setdefault(pid, SiprecParticipant(pid))
            for sub in el.iter():
                st = _local(sub.tag)
                if st == "nameid":
                    p.aor = p.aor or _attr(sub, "aor")
                    for n in sub:
                        if _local(n.tag) == "name" and (n.text or "").strip():
                            p.name = p.name or (n.text or "").strip()
                elif st == "aor" and (sub.text or "").strip():
                    p.aor = p.aor or (sub.text or "").strip()
                elif st == "name" and (sub.text or "").strip():
                    p.name = p.name or (sub.text or "").strip()
                elif st == "send" and (sub.text or "").strip():
                    p.send.append((sub.text or "").strip())
        elif tag == "stream":
            sid = _attr(el, "stream_id") or _attr(el, "id")
            for sub in el:
                if _local(sub.tag) == "label" and sid:
                    meta.stream_labels[sid] = (sub.text or "").strip()
        elif tag == "participantstreamassoc":
            pid = _attr(el, "participant_id")
            assoc = by_id.setdefault(pid, SiprecParticipant(pid)) if pid else None
            for sub in el:
                if assoc is not None and _local(sub.tag) == "send" and (sub.text or "").strip():
                    assoc.send.append((sub.text or "").strip())
        elif tag == "direction" and (el.text or "").strip():
            meta.direction = (el.text or "").strip().lower()
    meta.participants = list(by_id.values())
    return meta
