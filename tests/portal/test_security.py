"""Pure helpers: allow-list, CSRF tokens, signed cookies."""

from __future__ import annotations

from portal.security import Signer, allowed, parse_networks


def test_allow_list():
    assert allowed("1.2.3.4", [])
    assert allowed("192.168.1.7", ["192.168.1.0/24"])
    assert not allowed("192.168.2.7", ["192.168.1.0/24", "10.0.0.1"])
    assert allowed("::ffff:10.0.0.1", ["10.0.0.1"])
    assert not allowed("testclient", ["10.0.0.0/8"])
    nets, bad = parse_networks(["10.0.0.0/8", "nonsense", " "])
    assert len(nets) == 1 and bad == ["nonsense"]


def test_csrf_and_cookie_signing():
    s = Signer("k1")
    tok = s.csrf_token("cookie-a")
    assert s.csrf_ok("cookie-a", tok)
    assert (
        not s.csrf_ok("cookie-b", tok)
        and not s.csrf_ok(None, tok)
        and not s.csrf_ok("cookie-a", "")
    )
    assert not Signer("k2").csrf_ok("cookie-a", tok)
    signed = s.sign_session("raw-id")
    assert s.unsign_session(signed, 60) == "raw-id"
    assert s.unsign_session(signed + "x", 60) is None
    assert Signer("k2").unsign_session(signed, 60) is None
