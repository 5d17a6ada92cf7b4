"""Sans-I/O security helpers: client address, IP allow-list, CSRF tokens, cookie signing."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence

from itsdangerous import BadSignature, URLSafeTimedSerializer

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[list[Network], list[str]]:
    """CIDRs or single addresses; returns (networks, entries that are not valid)."""
    nets: list[Network] = []
    bad: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            bad.append(entry)
    return nets, bad


def _addr(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def in_networks(address: str, nets: Sequence[Network]) -> bool:
    addr = _addr(address)
    return addr is not None and any(addr in n for n in nets)


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address of the real client.

    ``X-Forwarded-For`` is believed only when the TCP peer is a trusted proxy, and then read from
    the right: the first hop that is not itself a trusted proxy is the client (everything left of
    it could be forged by that client).
    """
    if not forwarded_for or not in_networks(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if _addr(hop) is None:
            return peer  # garbage in the header: fall back to what we know
        if not in_networks(hop, trusted):
            return hop
    return hops[0] if hops else peer


def allowed(address: str, allow_list: Sequence[str]) -> bool:
    """An empty allow-list admits everyone (a fresh install); otherwise only listed networks."""
    if not allow_list:
        return True
    nets, _bad = parse_networks(allow_list)
    return in_networks(address, nets)


class Signer:
    """Signs session cookies (expiring) and derives CSRF tokens from one secret key."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"recflow portal v1|" + secret_key.encode()).digest()
        self._cookies = URLSafeTimedSerializer(self._key, salt="recflow-session")

    def sign_session(self, raw_id: str) -> str:
        return self._cookies.dumps(raw_id)

    def unsign_session(self, value: str, max_age_seconds: float) -> str | None:
        try:
            raw = self._cookies.loads(value, max_age=max_age_seconds)
        except BadSignature:  # includes SignatureExpired
            return None
        return raw if isinstance(raw, str) else None

    def csrf_token(self, csrf_cookie: str) -> str:
        """The form token that goes with a browser's CSRF cookie (HMAC-bound double submit:
        another site can neither read the cookie nor compute the token)."""
        return hmac.new(self._key, b"csrf|" + csrf_cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, csrf_cookie: str | None, token: str | None) -> bool:
        if not csrf_cookie or not token:
            return False
        return hmac.compare_digest(self.csrf_token(csrf_cookie), token)
