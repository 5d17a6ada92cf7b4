"""Sans-I/O security helpers: IP allow-list, CSRF tokens, cookie signing. (The client address
behind a proxy is uvicorn's ProxyHeadersMiddleware's job, see portal/app.py.)"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence

from itsdangerous import BadSignature, URLSafeTimedSerializer

from catalog.keys import SESSIONS, KeyRing

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


def allowed(address: str, allow_list: Sequence[str]) -> bool:
    """An empty allow-list admits everyone (a fresh install); otherwise only listed networks."""
    if not allow_list:
        return True
    nets, _bad = parse_networks(allow_list)
    return in_networks(address, nets)


class Signer:
    """Signs session cookies (expiring) and derives CSRF tokens from the secret key.

    Cookies signed under a previous key (``RECFLOW_SECRET_KEY_PREVIOUS``) stay valid until they
    expire; new ones are signed with the current key (:mod:`catalog.keys`)."""

    def __init__(self, keys: KeyRing | str) -> None:
        ring = keys if isinstance(keys, KeyRing) else KeyRing(keys)
        candidates = ring.keys(SESSIONS)  # current first
        self._key = candidates[0]
        # itsdangerous signs with the last key and accepts any of them
        self._cookies = URLSafeTimedSerializer(candidates[::-1], salt="recflow-session")

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
