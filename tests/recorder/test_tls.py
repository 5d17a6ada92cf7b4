"""SIP over TLS: `recflow recorder --tls-cert/--tls-key` listens on a TLS port; a call placed
over TLS (certificates from a test CA, trustme) is answered with a TLS Contact and recorded
sample-exact; with --tls-client-ca a peer without a client certificate is refused."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import numpy as np
import pytest
import trustme

from recorder.media import ULAW
from tests.recorder.helpers import (
    Dialog,
    Recorder,
    Uac,
    free_port,
    header,
    sdp_media_ports,
    sdp_offer,
    send_stream,
    tone,
)
from tests.recorder.test_calls import find


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _files(ca: trustme.CA, d: Path) -> tuple[Path, Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "recorder.test")
    chain, key, ca_file = d / "chain.pem", d / "key.pem", d / "ca.pem"
    cert.private_key_pem.write_to_path(str(key))
    with open(chain, "wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    ca.cert_pem.write_to_path(str(ca_file))
    return chain, key, ca_file


def _tls_uac(port: int, ctx: ssl.SSLContext) -> Uac:
    uac = Uac(("127.0.0.1", port), "tcp")  # a stream; wrapped in TLS below
    uac.sock = ctx.wrap_socket(uac.sock, server_hostname="127.0.0.1")
    uac.sock.settimeout(5)
    return uac


def test_call_over_tls_is_recorded_sample_exact(ca: trustme.CA, tmp_path: Path) -> None:
    chain, key, _ = _files(ca, tmp_path)
    tls_port = free_port(socket.SOCK_STREAM)
    rec = Recorder(
        tmp_path / "data",
        "--rtp-timeout", "3",
        "--tls-cert", str(chain), "--tls-key", str(key), "--tls-port", str(tls_port),
    ).start()  # fmt: skip
    try:
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        uac = _tls_uac(tls_port, ctx)
        d = Dialog(uac)
        answer = d.invite(sdp_offer(7300))
        assert header(answer, "Contact").endswith(f":{tls_port};transport=tls>")
        port = sdp_media_ports(answer)[0]
        a = tone(1.5, 520, 11)
        send_stream(("127.0.0.1", port), a, ssrc=77)
        assert d.bye().startswith(b"SIP/2.0 200")
        uac.close()
        row = rec.wait_rows(1)[-1]
        assert row["metadata"]["transport"] == "tls"
        pcm = rec.audio(row)[:, 0]
        ref = ULAW[np.frombuffer(a, np.uint8)]
        at = find(pcm, ref)
        assert at >= 0 and np.array_equal(pcm[at : at + len(ref)], ref)
        # a client that does not trust the recorder's CA cannot connect at all
        plain = ssl.create_default_context()
        with pytest.raises(ssl.SSLError):
            _tls_uac(tls_port, plain)
    finally:
        assert rec.stop() == 0


def test_mutual_tls_requires_a_client_certificate(ca: trustme.CA, tmp_path: Path) -> None:
    chain, key, ca_file = _files(ca, tmp_path)
    tls_port = free_port(socket.SOCK_STREAM)
    rec = Recorder(
        tmp_path / "data",
        "--tls-cert", str(chain), "--tls-key", str(key), "--tls-port", str(tls_port),
        "--tls-client-ca", str(ca_file),
    ).start()  # fmt: skip
    try:
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        uac = _tls_uac(tls_port, ctx)  # TLS 1.3: the refusal shows on first use
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            Dialog(uac).invite(sdp_offer(7310))
        uac.close()
        ca.issue_cert("sbc.test").configure_cert(ctx)
        uac = _tls_uac(tls_port, ctx)
        d = Dialog(uac)
        d.invite(sdp_offer(7312))
        assert d.bye().startswith(b"SIP/2.0 200")
        uac.close()
    finally:
        assert rec.stop() == 0


def test_bad_certificate_is_one_line(tmp_path: Path) -> None:
    import subprocess

    from tests.recorder.helpers import RECFLOW

    bad = tmp_path / "x.pem"
    bad.write_text("not a certificate")
    r = subprocess.run(
        [str(RECFLOW), "recorder", "--tls-cert", str(bad), "--data-dir", str(tmp_path / "d"),
         "--sip-port", str(free_port()), "--bind", "127.0.0.1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "cannot load TLS certificate" in r.stderr
    assert "Traceback" not in r.stderr
