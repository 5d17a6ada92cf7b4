"""One key-derivation helper for everything ``RECFLOW_SECRET_KEY`` protects, and key rotation.

Every use gets its own key, derived with HKDF-SHA256 and a purpose label
(``recflow <purpose> v1``): connector secrets, TOTP seeds, recovery-code digests, portal
sessions. A stolen derived key therefore opens one kind of data only.

Rotation: set the new key as ``RECFLOW_SECRET_KEY`` and the old one as
``RECFLOW_SECRET_KEY_PREVIOUS`` (several, comma-separated, newest first). Everything written
from then on uses the new key; everything stored is still readable (``MultiFernet`` tries the
current key first, then the previous ones), and ``recflow secrets rotate`` re-encrypts what is
stored -- connector secrets and TOTP seeds -- under the new key, after which the previous key
can be removed. Recovery codes are stored as keyed digests that cannot be re-keyed without the
codes themselves: they keep working while the previous key is configured, and users can
generate new ones.

Derivations used before this module (TOTP: ``sha256("recflow:totp:" + key)``, sessions:
``sha256("recflow portal v1|" + key)``, recovery codes: HMAC with the raw key) are kept as
read-only fallbacks, so an upgrade loses nothing; ``secrets rotate`` moves stored data off them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CONNECTOR_SECRETS = "connector secrets"
TOTP = "totp"
RECOVERY_CODES = "recovery codes"
SESSIONS = "portal sessions"
SSO_SECRETS = "sso client secret"  # the OpenID Connect client secret at rest
SSO_FLOW = "sso flow"  # the browser cookie carrying state, nonce and PKCE verifier


@lru_cache(maxsize=64)
def derive(secret_key: str, purpose: str, length: int = 32) -> bytes:
    """The key for one purpose: HKDF-SHA256(secret_key, info="recflow <purpose> v1")."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=f"recflow {purpose} v1".encode()
    ).derive(secret_key.encode())


def _legacy(secret_key: str, purpose: str) -> bytes | None:
    """What the key for ``purpose`` was before this module (read-only fallbacks)."""
    if purpose == TOTP:
        return hashlib.sha256(b"recflow:totp:" + secret_key.encode()).digest()
    if purpose == SESSIONS:
        return hashlib.sha256(b"recflow portal v1|" + secret_key.encode()).digest()
    if purpose == RECOVERY_CODES:
        return secret_key.encode()
    return None  # connector secrets always used HKDF with this very label


@dataclass(frozen=True)
class KeyRing:
    """The current key and the previous ones (newest first)."""

    current: str
    previous: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return (self.current, *(k for k in self.previous if k and k != self.current))

    def keys(self, purpose: str) -> list[bytes]:
        """Every key that may have written data for ``purpose``; the first is the one to write
        with."""
        out: list[bytes] = []
        for k in self.all:
            out.append(derive(k, purpose))
            legacy = _legacy(k, purpose)
            if legacy is not None:
                out.append(legacy)
        return out

    def fernet(self, purpose: str) -> MultiFernet:
        return _multi(tuple(self.keys(purpose)))


@lru_cache(maxsize=32)
def _multi(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(base64.urlsafe_b64encode(k)) for k in keys])


def keyring(current: str, previous: Sequence[str] = ()) -> KeyRing:
    return KeyRing(current, tuple(previous))
