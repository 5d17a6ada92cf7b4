"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) keyed from ``RECFLOW_SECRET_KEY``.

The process key may be any string (or the one generated under the data dir in embedded use), so
the Fernet key is derived from it with HKDF (:mod:`catalog.keys`, purpose "connector secrets");
the label keeps this key distinct from other uses of the same secret. Tokens written under a
previous key (``RECFLOW_SECRET_KEY_PREVIOUS``) stay readable until ``recflow secrets rotate``
re-encrypts them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet

from catalog.keys import CONNECTOR_SECRETS, keyring
from catalog.settings import get_settings


class SecretsError(Exception):
    """The stored secrets cannot be read with this process's key (key changed or data damaged)."""


def _fernet(secret_key: str) -> MultiFernet:
    # the previous keys are the process's (RECFLOW_SECRET_KEY_PREVIOUS)
    return _fernet_for(secret_key, tuple(get_settings().previous_secret_keys()))


@lru_cache(maxsize=8)
def _fernet_for(secret_key: str, previous: tuple[str, ...]) -> MultiFernet:
    return keyring(secret_key, previous).fernet(CONNECTOR_SECRETS)


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
            "key they were written with; set the old one as RECFLOW_SECRET_KEY_PREVIOUS and run "
            "`recflow secrets rotate`, or re-apply the configuration"
        ) from None
    return json.loads(data)  # type: ignore[no-any-return]


def rotate_token(token: str, *, secret_key: str | None = None) -> str:
    """The same secrets re-encrypted under the current key (read with any known key)."""
    if not token:
        return token
    try:
        return _fernet(_key(secret_key)).rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretsError(
            "stored connector secrets cannot be decrypted with the current or previous keys"
        ) from None
