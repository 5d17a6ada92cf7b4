"""SRTP with SDES keys (RFC 4568 ``a=crypto``, AES_CM_128_HMAC_SHA1_80/32) through libsrtp:
the answer carries our own key, media is authenticated and decrypted before anything else sees
it (packets without the key are counted and dropped), and a call over TLS + SRTP on the real
recorder is recorded sample-exact."""

from __future__ import annotations

import base64
import os
import random
import socket
import ssl
import time
from pathlib import Path

import numpy as np
import pytest
import trustme
from pylibsrtp import Policy, Session

from recorder.media import ULAW, CallMedia
from recorder.sdp import Crypto, parse_sdp
from tests.recorder.helpers import Dialog, Recorder, free_port, rtp_packet, sdp_media_ports, tone
from tests.recorder.test_calls import find
from tests.recorder.test_core import SRC, make_core, req, sends
from tests.recorder.test_media import T0_WALL, feed
from tests.recorder.test_tls import _files, _tls_uac

SUITE = "AES_CM_128_HMAC_SHA1_80"


def sender(key: bytes, suite: str = SUITE) -> Session:
    profile = {
        "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    }[suite]
    return Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))


def savp_offer(port: int, key: bytes, suite: str = SUITE, host: str = "127.0.0.1") -> str:
    return "\r\n".join(
        [
            "v=0",
            f"o=sbc 1 1 IN IP4 {host}",
            "s=-",
            f"c=IN IP4 {host}",
            "t=0 0",
            f"m=audio {port} RTP/SAVP 0 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/8000",
            f"a=crypto:1 {suite} inline:{base64.b64encode(key).decode()}",
            "a=sendonly",
            "",
        ]
    )


@pytest.mark.parametrize("suite", ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"])
def test_srtp_stream_decrypted_and_forgeries_dropped(suite: str) -> None:
    key = os.urandom(30)
    tx = sender(key, suite)
    a = tone(1.5, 440, 21)
    m = CallMedia(0.0, holdback=0.2)
    m.add_stream(
        0,
        {0: "PCMU"},
        {101},
        {"127.0.0.1"},
        expected=("127.0.0.1", 7000),
        srtp=Crypto(1, suite, key),
    )
    rng = random.Random(3)
    wrong = sender(os.urandom(30), suite)
    events = []
    for i in range(len(a) // 160):
        at = 0.1 + 0.02 * i
        pkt = rtp_packet(100 + i, 5000 + 160 * i, 0x77, a[i * 160 : (i + 1) * 160])
        events.append((at, tx.protect(pkt), ("127.0.0.1", 7000)))
        if i % 3 == 0:  # forged: plain RTP, and SRTP under another key, from the same address
            fake = rtp_packet(rng.randrange(65536), 5000 + 160 * i, 0x77, b"\x00" * 160)
            events.append((at + 0.001, fake, ("127.0.0.1", 7000)))
            other = rtp_packet(40000 + i, 5000 + 160 * i, 0x77, b"\x00" * 160)
            events.append((at + 0.002, wrong.protect(other), ("127.0.0.1", 7000)))
    out, t, k = [], 0.0, 0
    while t < 2.0:
        t += 0.5
        while k < len(events) and events[k][0] <= t:
            feed(m, 0, events[k][1], events[k][0], events[k][2])
            k += 1
        out.append(m.flush(t, T0_WALL + t)[0])
    out.append(m.finish(2.0, T0_WALL + 2.0))
    pcm = np.concatenate(out)[:, 0]
    ref = ULAW[np.frombuffer(a, np.uint8)]
    assert np.array_equal(pcm[800 : 800 + len(ref)], ref)
    s = m.streams[0].summary()
    forged = 2 * len(range(0, len(a) // 160, 3))
    assert s["srtp"] and s["packets_srtp_failed"] == forged
    assert s["packets_received"] == len(a) // 160


def test_answer_carries_our_key_and_savp_without_usable_key_is_refused() -> None:
    core = make_core()
    key = os.urandom(30)
    acts = core.receive(req("INVITE", "s1", body=savp_offer(7000, key)), SRC, now=0, wall=0)
    ok = sends(acts)[-1]
    assert ok.status == 200
    answer = parse_sdp(ok.body)
    m = answer.media[0]
    assert m.proto == "RTP/SAVP"
    crypto = [v for n, v in m.attributes if n == "crypto"]
    assert len(crypto) == 1 and crypto[0].startswith(f"1 {SUITE} inline:")
    ours = base64.b64decode(crypto[0].split("inline:")[1])
    assert len(ours) == 30 and ours != key
    # an unsupported suite, an MKI, or no a=crypto at all: nothing acceptable -> 488
    for bad in (
        savp_offer(7002, key).replace(SUITE, "AEAD_AES_256_GCM"),
        savp_offer(7002, key).replace(
            "inline:" + base64.b64encode(key).decode(),
            "inline:" + base64.b64encode(key).decode() + "|2^20|1:4",
        ),
        "\r\n".join(line for line in savp_offer(7002, key).split("\r\n") if "crypto" not in line),
    ):
        r = sends(core.receive(req("INVITE", f"s-{hash(bad)}", body=bad), SRC, now=0, wall=0))
        assert r[-1].status == 488, bad


def test_tls_and_srtp_call_on_the_real_recorder(tmp_path: Path) -> None:
    ca = trustme.CA()
    chain, pem_key, _ = _files(ca, tmp_path)
    tls_port = free_port(socket.SOCK_STREAM)
    rec = Recorder(
        tmp_path / "data",
        "--rtp-timeout", "3",
        "--tls-cert", str(chain), "--tls-key", str(pem_key), "--tls-port", str(tls_port),
    ).start()  # fmt: skip
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", 0))
    try:
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        uac = _tls_uac(tls_port, ctx)
        d = Dialog(uac)
        key = os.urandom(30)
        answer = d.invite(savp_offer(media.getsockname()[1], key))
        dest = ("127.0.0.1", sdp_media_ports(answer)[0]) if b"RTP/SAVP" in answer else None
        assert dest is not None, answer
        tx = sender(key)
        a = tone(1.5, 610, 22)
        start = time.monotonic()
        for i in range(len(a) // 160):
            pkt = rtp_packet(300 + i, 9000 + 160 * i, 0x5150, a[i * 160 : (i + 1) * 160])
            media.sendto(tx.protect(pkt), dest)
            delay = start + (i + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        assert d.bye().startswith(b"SIP/2.0 200")
        uac.close()
        row = rec.wait_rows(1)[-1]
        st = row["metadata"]["streams"][0]
        assert st["srtp"] and st["packets_srtp_failed"] == 0
        assert row["metadata"]["transport"] == "tls"
        pcm = rec.audio(row)[:, 0]
        ref = ULAW[np.frombuffer(a, np.uint8)]
        at = find(pcm, ref)
        assert at >= 0 and np.array_equal(pcm[at : at + len(ref)], ref)
    finally:
        media.close()
        assert rec.stop() == 0
