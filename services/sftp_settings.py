"""The hosted SFTP service's settings, its one user's credentials and its host key.

- ``sftp_server:`` (config file / portal): enabled, port (Focus: 8022), bind address, the size
  of the conversion cache. Stored as the settings document ``sftp_server``.
- Credentials: enabling generates a username (``SFTP`` + 8 hex digits, as Focus names its SFTP
  user) and a password, shown once. The SFTP user is a platform user (a row in the users table,
  with a role and numbers/groups like any other); its SFTP password is stored only as an argon2
  hash in the document ``sftp_credentials``. Its portal password is random and never shown, so
  the account cannot log in to the portal. Disabling and enabling again replaces both (the old
  platform user is disabled; its role and numbers carry over to the new one).
- Host key: an Ed25519 key generated once, stored encrypted with the secret key (document
  ``sftp_host_key``), so every process and machine that serves the tree presents the same key
  and the portal can show its fingerprint.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncssh
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

from catalog.models import utcnow
from catalog.portal_queries import Visibility
from catalog.repository import Catalog
from catalog.users import Role, User, UserError, Users
from connectors.secrets import decrypt_json, encrypt_json

SETTINGS_DOC = "sftp_server"
CREDENTIALS_DOC = "sftp_credentials"
HOST_KEY_DOC = "sftp_host_key"
SFTP_EMAIL_DOMAIN = "sftp.recflow.invalid"  # .invalid: never a deliverable address

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SftpServerSettings(BaseModel):
    """The ``sftp_server:`` section."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Serve the hosted SFTP tree")
    port: int = Field(8022, ge=0, le=65535, description="TCP port (Focus uses 8022; 0: any free)")
    bind: str = Field("0.0.0.0", description="Address to listen on")
    cache_mb: int = Field(
        512, ge=16, le=1_000_000, description="Disk bound of converted files (MP3, 8-bit WAV)"
    )


def load_settings(catalog: Catalog) -> SftpServerSettings:
    doc = catalog.get_document(SETTINGS_DOC)
    return SftpServerSettings.model_validate(doc) if doc else SftpServerSettings()


def save_settings(catalog: Catalog, settings: SftpServerSettings) -> None:
    catalog.put_document(SETTINGS_DOC, settings.model_dump(mode="json"))


# ---------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """Shown once, right after they are generated."""

    username: str
    password: str
    user: User


class SftpAccessError(Exception):
    pass


def _credentials_doc(catalog: Catalog) -> dict[str, str] | None:
    return catalog.get_document(CREDENTIALS_DOC) or None


def current_username(catalog: Catalog) -> str | None:
    doc = _credentials_doc(catalog)
    return doc.get("username") if doc else None


def generate_credentials(
    catalog: Catalog, *, role: Role | str | None = None, now: datetime | None = None
) -> Credentials:
    """New username and password for the SFTP user (the old ones stop working at once).

    The new platform user takes the old one's role and numbers unless ``role`` is given; the
    first SFTP user gets ``role`` or admin (Focus: "all security groups" — every call an admin
    sees, private calls never: :func:`sftp_visibility`)."""
    users = Users(catalog)
    old = _credentials_doc(catalog)
    previous = users.get(old["user_id"]) if old else None
    new_role = Role(role) if role else (previous.role if previous else Role.admin)
    username = f"SFTP{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    try:
        created = users.create(
            f"{username.lower()}@{SFTP_EMAIL_DOMAIN}",
            new_role,
            password=secrets.token_urlsafe(24),  # portal password: random, never shown
            numbers=list(previous.numbers) if previous else [],
            group_numbers=list(previous.group_numbers) if previous else [],
            now=now,
        )
    except UserError as e:  # a 32-bit name collided with an old one: vanishingly rare
        raise SftpAccessError(str(e)) from None
    if previous is not None:
        users.update(previous.id, disabled=True)
    catalog.put_document(
        CREDENTIALS_DOC,
        {
            "username": username,
            "user_id": created.user.id,
            "password_hash": _hasher.hash(password),
            "created_at": (now or utcnow()).isoformat(),
        },
    )
    return Credentials(username=username, password=password, user=created.user)


def revoke_credentials(catalog: Catalog) -> bool:
    """Disabling SFTP: the credentials stop working and the platform user is disabled."""
    old = _credentials_doc(catalog)
    if not old:
        return False
    users = Users(catalog)
    if users.get(old["user_id"]) is not None:
        users.update(old["user_id"], disabled=True)
    catalog.put_document(CREDENTIALS_DOC, {})
    return True


def authenticate(catalog: Catalog, username: str, password: str, now: datetime) -> User | None:
    """The SFTP user when ``username``/``password`` are right and the user may log in.

    Wrong passwords count toward the same lockout as the portal's; an unknown name costs as
    much as a known one (no user enumeration by timing)."""
    doc = _credentials_doc(catalog)
    if not doc or not secrets.compare_digest(doc.get("username", ""), username):
        _verify(_DUMMY_HASH, password)
        return None
    users = Users(catalog)
    user = users.get(doc["user_id"])
    if user is None or user.disabled or users.is_locked(user.id, now):
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(doc["password_hash"], password):
        users.record_failure(user.id, now)
        return None
    users.record_success(user.id, now)
    return user


# argon2's default cost is 64 MiB per verification: twenty clients logging in at once would
# take over a gigabyte. One verification at a time keeps the server's memory flat (a login
# costs ~0.1 s of CPU, so a burst of logins queues for a moment instead).
_VERIFYING = threading.BoundedSemaphore(1)


def _verify(hash_: str, password: str) -> bool:
    with _VERIFYING:
        try:
            return _hasher.verify(hash_, password)
        except (VerificationError, InvalidHashError):
            return False


def sftp_visibility(user: User) -> Visibility:
    """What the SFTP user may download: what its role and numbers/groups allow in the portal,
    but never a private call (private calls are for their parties, in the portal)."""
    own = frozenset(user.numbers)
    if user.role is Role.admin:
        return Visibility(everything=True)
    if user.role is Role.supervisor:
        return Visibility(numbers=own | frozenset(user.group_numbers))
    return Visibility(numbers=own)


def address_allowed(address: str, allow_list: Sequence[str]) -> bool:
    """The account's IP allow-list applies to SFTP too (empty list: everyone)."""
    if not allow_list:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    for entry in allow_list:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


# ---------------------------------------------------------------- host key


def host_key(catalog: Catalog) -> asyncssh.SSHKey:
    """The server's host key: generated on first use, the same ever after."""
    doc = catalog.get_document(HOST_KEY_DOC)
    if doc and doc.get("private_enc"):
        pem = decrypt_json(doc["private_enc"], secret_key=_secret(catalog))["pem"]
        return asyncssh.import_private_key(pem)
    key = asyncssh.generate_private_key("ssh-ed25519")
    pem = key.export_private_key().decode()
    catalog.put_document(
        HOST_KEY_DOC,
        {
            "private_enc": encrypt_json({"pem": pem}, secret_key=_secret(catalog)),
            "public": key.export_public_key().decode().strip(),
            "fingerprint": key.get_fingerprint("sha256"),
        },
    )
    # read back: when two processes race on the first start, the document that landed last is
    # the key both serve
    return host_key(catalog)


def host_key_fingerprint(catalog: Catalog) -> str | None:
    """``SHA256:…`` of the host key, or None before the service first started."""
    doc = catalog.get_document(HOST_KEY_DOC)
    return doc.get("fingerprint") if doc else None


def _secret(catalog: Catalog) -> str:
    return catalog.settings.resolved_secret_key()


@dataclass(frozen=True)
class SftpView:
    """What the portal's Integrations tab shows (never a password or a hash)."""

    enabled: bool
    port: int
    bind: str
    username: str | None
    fingerprint: str | None


def sftp_view(catalog: Catalog) -> SftpView:
    s = load_settings(catalog)
    return SftpView(
        enabled=s.enabled,
        port=s.port,
        bind=s.bind,
        username=current_username(catalog),
        fingerprint=host_key_fingerprint(catalog),
    )


def enable(catalog: Catalog, *, now: datetime | None = None) -> Credentials:
    """The portal's "Enable SFTP": switch the service on, make sure the host key exists (its
    fingerprint is shown next to the credentials) and generate fresh credentials."""
    save_settings(catalog, load_settings(catalog).model_copy(update={"enabled": True}))
    host_key(catalog)
    return generate_credentials(catalog, now=now)


def disable(catalog: Catalog) -> None:
    save_settings(catalog, load_settings(catalog).model_copy(update={"enabled": False}))
    revoke_credentials(catalog)
