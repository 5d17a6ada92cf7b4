"""RFC 4475 (SIP torture tests) through the recorder's core: every §3.1.2 invalid request gets a
4xx naming the fault (never 2xx), invalid responses are dropped, and the §3.1.1 valid messages
are still served. The messages are typed in from the RFC's descriptions (hosts as the RFC has
them; the core answers to the packet's source, never to a host named inside)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.core import CallStarted, RecorderCore, Send
from recorder.sip import SipParseError, parse_message, parse_name_addr, scan_name_addr
from tests.recorder.test_core import make_core

SRC = ("127.0.0.1", 5999)
SDP = (
    "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.3\nt=0 0\n"
    "m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"
)


def wire(text: str, body: str = "", length: int | None = None) -> bytes:
    """Header lines as typed (``\\n``-separated, continuation lines kept) to CRLF wire form,
    with Content-Length computed unless ``length`` forces another value."""
    head = text.strip("\n").replace("\n", "\r\n").replace("<SP>", " ")
    b = body.replace("\n", "\r\n").encode()
    n = len(b) if length is None else length
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return f"{head}\r\n{ctype}Content-Length: {n}\r\n\r\n".encode() + b


def answers(core: RecorderCore, data: bytes) -> list[tuple[int, str]]:
    """(status, reason) of each answer, read from the status line (an answer echoes the
    request's CSeq, which may be the very fault)."""
    out = []
    for a in core.receive(data, SRC, now=0, wall=0):
        if isinstance(a, Send):
            line = a.data.split(b"\r\n", 1)[0].decode()
            _, code, reason = line.split(" ", 2)
            out.append((int(code), reason))
    return out


# ---------------------------------------------------------------- §3.1.2 invalid messages

INVALID = {
    # 3.1.2.1 extraneous header field separators
    "badinv01": (
        wire(
            """INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;""",
            SDP,
        ),
        400,
        "From",
    ),
    # 3.1.2.2 Content-Length larger than the message
    "clerr": (
        wire(
            """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523""",
            SDP,
            length=9999,
        ),
        400,
        "Content-Length",
    ),
    # 3.1.2.3 negative Content-Length
    "ncl": (
        wire(
            """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw""",
            SDP,
            length=-999,
        ),
        400,
        "Content-Length",
    ),
    # 3.1.2.4 request scalar fields with overlarge values
    "scalar02": (
        wire(
            """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1000000000000000000000
Contact: <sip:user@host129.example.com>;expires=280297596632815"""
        ),
        400,
        "CSeq",
    ),
    # 3.1.2.6 unterminated quoted string in display name
    "quotbal": (
        wire(
            """INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234""",
            SDP,
        ),
        400,
        "To",
    ),
    # 3.1.2.7 <> enclosing the Request-URI
    "ltgtruri": (
        wire(
            """INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5""",
            SDP,
        ),
        400,
        "Request-URI",
    ),
    # 3.1.2.8 LWS inside the Request-URI
    "lwsruri": (
        wire(
            """INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395""",
            SDP,
        ),
        400,
        "request line",
    ),
    # 3.1.2.9 multiple SP between request-line elements
    "lwsstart": (
        wire(
            """INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923""",
            SDP,
        ),
        400,
        "request line",
    ),
    # 3.1.2.10 SP at the end of the request line
    "trws": (
        wire(
            """OPTIONS sip:remote-target@example.com SIP/2.0<SP><SP>
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70"""
        ),
        400,
        "request line",
    ),
    # 3.1.2.11 escaped headers in the Request-URI
    "escruri": (
        wire(
            """INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5
CSeq: 149209342 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw""",
            SDP,
        ),
        400,
        "Request-URI",
    ),
    # 3.1.2.12 invalid time zone in Date
    "baddate": (
        wire(
            """INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>""",
            SDP,
        ),
        400,
        "Date",
    ),
    # 3.1.2.13 name-addr URI with ? not enclosed in <> (REGISTER: not served here anyway)
    "regbadct": (
        wire(
            """REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E"""
        ),
        400,
        "Contact",
    ),
    # 3.1.2.14 spaces within addr-spec
    "badaspec": (
        wire(
            """OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS"""
        ),
        400,
        "To",
    ),
    # 3.1.2.15 non-token characters in an unquoted display name
    "baddn": (
        wire(
            """OPTIONS sip:t.watson@example.org SIP/2.0
Via: SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To: Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq: 3923239 OPTIONS"""
        ),
        400,
        "From",
    ),
    # 3.1.2.16 unknown protocol version
    "badvers": (
        wire(
            """OPTIONS sip:t.watson@example.org SIP/7.0
Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To: T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq: 1 OPTIONS"""
        ),
        505,
        "Version",
    ),
    # 3.1.2.17 start line and CSeq method mismatch
    "mismatch01": (
        wire(
            """OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw"""
        ),
        400,
        "CSeq",
    ),
    # 3.1.2.18 unknown method with a CSeq method mismatch
    "mismatch02": (
        wire(
            """NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw""",
            SDP,
        ),
        400,
        "CSeq",
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_requests_get_a_4xx_naming_the_fault(name: str) -> None:
    data, status, names = INVALID[name]
    with pytest.raises(SipParseError) as e:
        parse_message(data)
    assert e.value.status == status and names.lower() in e.value.reason.lower(), e.value.reason
    core = make_core(trusted_sources=["127.0.0.0/8"])
    got = answers(core, data)
    assert [code for code, _ in got] == [status], (name, got)
    assert names.lower() in got[0][1].lower()
    assert not core.calls


# 3.1.2.5 and 3.1.2.19: invalid responses are dropped (there is nothing to answer)
INVALID_RESPONSES = {
    "scalarlg": wire(
        """SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw93
CSeq: 36893488147419103232 INVITE
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress\""""
    ),
    "bigcode": wire(
        """SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Contact: <sip:user@host105.example.com>"""
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID_RESPONSES))
def test_invalid_responses_are_dropped(name: str) -> None:
    core = make_core(trusted_sources=["127.0.0.0/8"])
    assert core.receive(INVALID_RESPONSES[name], SRC, now=0, wall=0) == []


# ---------------------------------------------------------------- §3.1.1 valid messages

VALID = {
    # 3.1.1.1 a short tortuous INVITE (folding, escapes in quotes, LWS everywhere, leading zeros)
    "wsinv": wire(
        """INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;rport;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33""",
        SDP,
    ),
    # 3.1.1.2 wide range of valid characters (an unknown method: 501, not 400)
    "intmeth": wire(
        """!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="работающий";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:﻿大停電
Content-Length: 0"""
    ).replace(b"Content-Length: 0\r\nContent-Length: 0", b"Content-Length: 0"),
    # 3.1.1.3 valid use of the % escaping mechanism
    "esc01": wire(
        """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>""",
        SDP,
    ),
    # 3.1.1.4 escaped nulls in URIs
    "escnull": wire(
        """REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0"""
    ).replace(b"L:0\r\nContent-Length: 0", b"L:0"),
    # 3.1.1.6 no LWS between display name and <
    "lwsdisp": wire(
        """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw"""
    ),
    # 3.1.1.8 extra trailing octets in a UDP datagram (a REGISTER: 405, the INVITE ignored)
    "dblreq": wire(
        """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492"""
    )
    + wire(
        """INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234""",
        SDP,
    ),
    # 3.1.1.10 semicolon-separated parameters in the URI user part
    "semiuri": wire(
        """OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw"""
    ),
    # 3.1.1.11 varied and unknown transport types
    "transports": wire(
        """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee"""
    ),
}

EXPECTED_VALID = {
    "wsinv": 481,  # well-formed; its To has a tag, so for a UAS it names an unknown dialog
    "intmeth": 501,
    "esc01": 200,
    "escnull": 405,
    "lwsdisp": 200,
    "dblreq": 405,
    "semiuri": 200,
    "transports": 200,
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_torture_messages_are_served(name: str) -> None:
    core = make_core(trusted_sources=["127.0.0.0/8"])
    acts = core.receive(VALID[name], SRC, now=0, wall=0)
    got = [parse_message(a.data) for a in acts if isinstance(a, Send)]
    assert [a.status for a in got][-1:] == [EXPECTED_VALID[name]], (name, got)
    if name == "esc01":
        assert any(isinstance(a, CallStarted) for a in acts)


def test_wsinv_fields() -> None:
    m = parse_message(VALID["wsinv"])
    frm = parse_name_addr(m.get("from"))
    assert frm.display_name == 'J Rosenberg \\"' and frm.tag == "98asjd8"
    assert m.cseq == (9, "INVITE") and len(m.get_all("via")) == 3


def test_quoted_display_name_with_angle_bracket_keeps_the_number() -> None:
    """The probe's finding: ``"Smith <Sales>" <sip:+4477…>`` stored an empty caller number."""
    core = make_core(trusted_sources=["127.0.0.0/8"])
    data = wire(
        """INVITE sip:1000@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKq1
From: "Smith <Sales>, \\"Ltd\\"" <sip:+447700900123@127.0.0.1>;tag=a1
To: <sip:+441632960555@127.0.0.1>
Call-ID: quoted-lt@x
CSeq: 1 INVITE
Contact: <sip:a@127.0.0.1:5999>""",
        SDP,
    )
    acts = core.receive(data, SRC, now=0, wall=0)
    call = next(a.call for a in acts if isinstance(a, CallStarted))
    assert call.from_number == "+447700900123"
    assert call.from_name == 'Smith <Sales>, "Ltd"'


# ---------------------------------------------------------------- properties of the scanner

_names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=40
)
_users = st.from_regex(r"\+?[0-9]{1,15}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(_names, _users, st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True))
def test_any_quoted_display_name_keeps_name_and_number(name: str, user: str, tag: str) -> None:
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    na = scan_name_addr(f"{quoted} <sip:{user}@example.com>;tag={tag}")
    assert (na.display_name, na.user, na.tag) == (name.strip(), user, tag)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120))
def test_scanner_raises_only_parse_errors(value: str) -> None:
    with contextlib.suppress(SipParseError):
        scan_name_addr(value)
