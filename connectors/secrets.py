"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) keyed from ``RECFLOW_SECRET_KEY``.

The process key may be any string (or the one generated under the data dir in embedded use), so
the Fernet key is derived from it with HKDF; a fixed ``info`` label keeps this key distinct from
other uses of the same secret (session signing).
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from catalog.settings import get_settings


class SecretsError(Exception):
    """The stored secrets cannot be read with this process's key (key changed or data damaged)."""


@lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"recflow connector secrets v1"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def _key(secret_key: str | None) -> str:
    return secret_key if secret_key is not None else get_settings().resolved_secret_key()


def encrypt_json(value: dict[str, Any], *, secret_key: str | None = None) -> str:
    """Encrypt a small JSON document; returns an ASCII token safe for a TEXT column."""
    return _fernet(_key(secret_key)).encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str, *, secret_key: str | None = None) -> dict[str, Any]:
    if not token:
        return {}
    try:
        data = _fernet(_key(secret_key)).decrypt(token.encode())
    except InvalidToken:
        raise SecretsError(
            "stored connector secrets cannot be decrypted: RECFLOW_SECRET_KEY differs from the "
            "key they were written with; re-apply the configuration"
        ) from None
    return json.loads(data)  # type: ignore[no-any-return]
