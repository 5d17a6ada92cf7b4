"""Single sign-on settings: the ``oidc:`` section, stored as the settings document ``oidc``.

The client secret is resolved from its ``${ENV}`` reference at apply time and kept encrypted
under its own key (:data:`catalog.keys.SSO_SECRETS`); the reference text is remembered so
``config export`` writes ``${ENV}`` back, never the value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from catalog import keys
from catalog.repository import Catalog
from catalog.users import Role

DOC = "oidc"
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class SsoSettingsError(Exception):
    pass


class OidcSettings(BaseModel):
    """The ``oidc:`` section: one OpenID Connect provider for the portal's login page."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(
        description="The provider's issuer URL; discovery reads "
        "{issuer}/.well-known/openid-configuration"
    )
    client_id: str = Field(min_length=1, max_length=512, description="Client id at the provider")
    client_secret: SecretStr = Field(description='Client secret, as "${ENV_VAR}" in the file')
    default_role: Role = Field(
        Role.user, description="Role of users created at their first single sign-on"
    )
    groups_claim: str = Field(
        "groups",
        max_length=128,
        description="Claim carrying group names; those naming a recflow group set the user's "
        "groups at every sign-in (empty: groups are not taken from the provider)",
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "email", "profile"],
        description="Scopes asked for; must include openid",
    )
    button_label: str = Field(
        "", max_length=80, description='Login button text (empty: "Sign in with single sign-on")'
    )
    redirect_uri: str = Field(
        "",
        description="Callback URL registered at the provider (empty: derived from the request, "
        "…/login/sso/callback); set it behind a reverse proxy",
    )
    require_verified_email: bool = Field(
        True, description="Refuse identities whose email_verified claim is not true"
    )

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        parts = urlsplit(v)
        if not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"must be a URL like https://idp.example.com, got {v!r}")
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ValueError(f"must be an https URL (http only for localhost), got {v!r}")
        return v

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, v: list[str]) -> list[str]:
        v = [s.strip() for s in v if s.strip()]
        if "openid" not in v:
            raise ValueError("must include openid")
        if any(" " in s for s in v):
            raise ValueError("one scope per list item")
        return v

    @field_validator("redirect_uri")
    @classmethod
    def _redirect(cls, v: str) -> str:
        v = v.strip()
        if v and (urlsplit(v).scheme not in ("http", "https") or not urlsplit(v).netloc):
            raise ValueError(f"must be an absolute http(s) URL, got {v!r}")
        return v


class StoredOidc(BaseModel):
    """The settings document: the settings less the secret, the secret encrypted, its ref."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any]
    client_secret_enc: str
    client_secret_ref: str = ""


def _fernet(catalog: Catalog):  # type: ignore[no-untyped-def]
    return catalog.settings.keyring().fernet(keys.SSO_SECRETS)


def save(catalog: Catalog, settings: OidcSettings | None, secret_ref: str = "") -> None:
    """Store the settings (None: single sign-on off)."""
    if settings is None:
        catalog.put_document(DOC, {})
        return
    secret = settings.client_secret.get_secret_value().encode()
    doc = StoredOidc(
        settings=settings.model_dump(mode="json", exclude={"client_secret"}),
        client_secret_enc=_fernet(catalog).encrypt(secret).decode(),
        client_secret_ref=secret_ref,
    )
    catalog.put_document(DOC, doc.model_dump())


def _stored(catalog: Catalog) -> StoredOidc | None:
    doc = catalog.get_document(DOC)
    return StoredOidc.model_validate(doc) if doc else None


def load(catalog: Catalog) -> OidcSettings | None:
    """The configured provider, or None when single sign-on is off."""
    stored = _stored(catalog)
    if stored is None:
        return None
    try:
        secret = _fernet(catalog).decrypt(stored.client_secret_enc.encode()).decode()
    except InvalidToken:
        raise SsoSettingsError(
            "the stored OIDC client secret cannot be decrypted: RECFLOW_SECRET_KEY changed? "
            "Set the old one as RECFLOW_SECRET_KEY_PREVIOUS or apply the oidc: section again"
        ) from None
    return OidcSettings.model_validate({**stored.settings, "client_secret": secret})


def secret_ref(catalog: Catalog) -> str:
    stored = _stored(catalog)
    return stored.client_secret_ref if stored else ""


def button_label(catalog: Catalog) -> str | None:
    """What the login page needs: None when off, "" for the default label. Reads no secret."""
    stored = _stored(catalog)
    if stored is None:
        return None
    return str(stored.settings.get("button_label") or "")


def rotate(catalog: Catalog) -> int:
    """Re-encrypt the client secret under the current key (``recflow secrets rotate``)."""
    stored = _stored(catalog)
    if stored is None:
        return 0
    try:
        new = _fernet(catalog).rotate(stored.client_secret_enc.encode()).decode()
    except InvalidToken:
        raise SsoSettingsError(
            "the OIDC client secret cannot be decrypted with the current or previous keys"
        ) from None
    if new == stored.client_secret_enc:
        return 0
    catalog.put_document(DOC, {**stored.model_dump(), "client_secret_enc": new})
    return 1
