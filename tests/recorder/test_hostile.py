"""Malformed and unusual-but-valid SIP over the network. The messages name other hosts (Via,
Contact, SDP), so the recorder and the sender run in a fresh network namespace that has only
loopback: a response sent anywhere but back to the source fails instead of leaving."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare -n"
)


def test_hostile_input_gets_answers_and_the_server_keeps_serving() -> None:
    peer = Path(__file__).with_name("hostile_peer.py")
    r = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && {sys.executable} {peer}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["garbage"] == [] and out["ack_garbage"] == [] and out["response"] == []
    assert out["no_call_id"] == []  # nothing to route a response by
    assert out["bad_content_length"] == ["SIP/2.0 400 Bad Content-Length header"]
    assert out["content_length_too_big"] == ["SIP/2.0 400 Content-Length larger than body"]
    assert out["huge_header"] == ["SIP/2.0 200 OK"]
    assert out["too_many_headers"] == ["SIP/2.0 400 Too many headers"]
    assert out["folded_odd_ws"] == ["SIP/2.0 200 OK"]
    assert out["unknown_method"] == ["SIP/2.0 501 Not Implemented"]  # RFC 3261 §8.2.1
    assert out["unknown_uri_scheme"] == ["SIP/2.0 200 OK"]
    assert out["escapes"] == ["SIP/2.0 200 OK"]
    assert out["binary_body"] == ["SIP/2.0 415 Unsupported Media Type"]
    assert out["invite_sdp_elsewhere"] == ["SIP/2.0 200 OK"]
    assert out["invite_bad_sdp"] == ["SIP/2.0 400 Bad SDP: bad SDP line"]
    assert out["bye"] == "BYE sip:a@198.51.100.7:5060 SIP/2.0"  # addressed there, sent to us
    assert out["tcp_no_length"] == "SIP/2.0 400 Missing Content-Length header"
    assert out["tcp_ok"] == "SIP/2.0 200 OK"
    assert out["still_serving"] == "SIP/2.0 200 OK" and out["alive"]
    assert out["exit"] == 0 and out["log_errors"] == []
