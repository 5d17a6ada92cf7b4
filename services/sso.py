"""Single sign-on with an OpenID Connect provider: the authorization code flow with PKCE (S256).

1. :func:`begin` reads the provider's discovery document, makes a fresh ``state``, ``nonce``
   and PKCE ``code_verifier``, and returns the authorization URL plus a *flow token* -- those
   three values and where to go afterwards, encrypted and time-stamped under a key of their own
   (:data:`catalog.keys.SSO_FLOW`). The portal keeps it in a short-lived cookie, so a callback
   is only accepted in the browser that started the sign-in.
2. :func:`finish` opens the flow token, checks ``state``, exchanges the code (Authlib's OAuth 2
   client, sending the verifier), verifies the ID token against the provider's JWKS (signature,
   ``iss``, ``aud``/``azp``, ``exp``/``iat``, ``nonce``), adds the userinfo claims (same ``sub``)
   and signs the person in: matched by verified e-mail, created with the default role when new,
   groups set from the groups claim. Every outcome is audited.

Local accounts and their TOTP second factor are untouched: single sign-on is another way in
(the provider is responsible for its own second factor). An account marked "SSO only" cannot use
the password form (:meth:`catalog.users.Users.authenticate`). Disabled and locked accounts are
refused here as on the password form. The IP allow-list is the portal's gate, in front of every
route, these included.

Time is passed in (``now``); the discovery document and the JWKS are cached per process for
:data:`CACHE_SECONDS` (the JWKS is fetched again at once when a token names an unknown key).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc6749.errors import OAuth2Error
from cryptography.fernet import InvalidToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from catalog import keys
from catalog.audit import Audit, FieldChange
from catalog.directory import Directory
from catalog.repository import Catalog
from catalog.users import User, UserError, Users
from services.sftp_settings import SFTP_EMAIL_DOMAIN
from services.sso_settings import OidcSettings

CACHE_SECONDS = 3600.0
FLOW_SECONDS = 600  # a sign-in must come back from the provider within ten minutes
HTTP_TIMEOUT = 10.0
LEEWAY_SECONDS = 60  # clock skew between us and the provider
# asymmetric only: an HS256 ID token would be signed with the client secret we also hold
SIGNING_ALGS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class SsoError(Exception):
    """A sign-in that cannot complete. ``code`` is stable (audit detail, metrics label);
    ``message`` is for the person at the login page."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in (ID token claims merged with userinfo)."""

    subject: str
    email: str
    email_verified: bool
    groups: list[str] | None  # None: the provider sent no groups claim
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SignedIn:
    user: User
    next_path: str
    created: bool
    groups: list[str] | None  # the groups set from the claim (None: left as they were)


# ---------------------------------------------------------------- provider metadata


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + CACHE_SECONDS, value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_metadata = _Cache()
_jwks = _Cache()


def clear_caches() -> None:
    _metadata.clear()
    _jwks.clear()


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        r = httpx.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
        r.raise_for_status()
        data = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise SsoError("provider_unreachable", f"cannot read the provider's {what}: {e}") from None
    if not isinstance(data, dict):
        raise SsoError("provider_unreachable", f"the provider's {what} is not a JSON object")
    return data


def discover(settings: OidcSettings) -> dict[str, Any]:
    """The provider's discovery document (OpenID Connect Discovery 1.0), cached."""
    cached = _metadata.get(settings.issuer)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    meta = _get_json(f"{settings.issuer}/.well-known/openid-configuration", "discovery document")
    if meta.get("issuer") != settings.issuer:  # Discovery §4.3: must be exactly ours
        raise SsoError(
            "provider_misconfigured",
            f"the discovery document names issuer {meta.get('issuer')!r}, not {settings.issuer!r}",
        )
    missing = [
        k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not meta.get(k)
    ]
    if missing:
        raise SsoError(
            "provider_misconfigured", f"the discovery document lacks {', '.join(missing)}"
        )
    methods = meta.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise SsoError("provider_misconfigured", "the provider does not support PKCE with S256")
    _metadata.put(settings.issuer, meta)
    return meta


def _key_set(jwks_uri: str, *, fresh: bool = False) -> KeySet:
    cached = None if fresh else _jwks.get(jwks_uri)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        ks = KeySet.import_key_set(_get_json(jwks_uri, "signing keys (JWKS)"))  # type: ignore[arg-type]
    except JoseError as e:
        raise SsoError(
            "provider_misconfigured", f"the provider's JWKS is not usable: {e}"
        ) from None
    _jwks.put(jwks_uri, ks)
    return ks


# ---------------------------------------------------------------- the flow token


def _seal(catalog: Catalog, flow: dict[str, str], now: datetime) -> str:
    fernet = catalog.settings.keyring().fernet(keys.SSO_FLOW)
    return fernet.encrypt_at_time(json.dumps(flow).encode(), int(now.timestamp())).decode()


def _open(catalog: Catalog, token: str | None, now: datetime) -> dict[str, str]:
    if not token:
        raise SsoError(
            "no_flow",
            "no sign-in was started in this browser (or it took longer than ten minutes)",
        )
    fernet = catalog.settings.keyring().fernet(keys.SSO_FLOW)
    try:
        data = fernet.decrypt_at_time(token.encode(), FLOW_SECONDS, int(now.timestamp()))
    except InvalidToken:
        raise SsoError(
            "no_flow", "the sign-in expired or was not started here; try again"
        ) from None
    flow = json.loads(data)
    if not isinstance(flow, dict):
        raise SsoError("no_flow", "the sign-in could not be read; try again")
    return flow


def _client(settings: OidcSettings, meta: dict[str, Any], redirect_uri: str) -> OAuth2Client:
    methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return OAuth2Client(
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        token_endpoint_auth_method=auth,
        scope=" ".join(settings.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT,
    )


def begin(
    catalog: Catalog, settings: OidcSettings, redirect_uri: str, next_path: str, now: datetime
) -> tuple[str, str]:
    """(authorization URL to send the browser to, flow token to keep in its cookie)."""
    meta = discover(settings)
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),  # 64 characters (RFC 7636: 43-128)
        "next": next_path,
        "redirect_uri": redirect_uri,
        "issuer": settings.issuer,
    }
    with _client(settings, meta, redirect_uri) as client:
        url, _state = client.create_authorization_url(
            meta["authorization_endpoint"],
            state=flow["state"],
            code_verifier=flow["verifier"],
            nonce=flow["nonce"],
        )
    return url, _seal(catalog, flow, now)


def finish(
    catalog: Catalog,
    settings: OidcSettings,
    flow_token: str | None,
    params: dict[str, str],
    *,
    client_ip: str,
    now: datetime,
) -> SignedIn:
    """Complete a sign-in from the callback's query parameters; audited either way."""
    email = ""
    try:
        flow = _open(catalog, flow_token, now)
        if flow.get("issuer") != settings.issuer:
            raise SsoError("no_flow", "single sign-on was reconfigured meanwhile; try again")
        if not secrets.compare_digest(str(params.get("state", "")), flow["state"]):
            raise SsoError(
                "bad_state", "the answer from the provider does not belong to this sign-in"
            )
        if params.get("error"):
            detail = params.get("error_description") or params["error"]
            raise SsoError("provider_refused", f"the provider refused the sign-in: {detail[:200]}")
        code = params.get("code", "")
        if not code:
            raise SsoError("bad_response", "the provider sent no authorization code")
        identity = _redeem(settings, flow, code, now)
        email = identity.email
        signed = sign_in(catalog, settings, identity, now=now)
    except SsoError as e:
        Audit(catalog).record(
            "login_failed",
            initiator=email.strip().lower() or "(single sign-on)",
            client_ip=client_ip,
            resource="portal",
            outcome="denied",
            detail=f"sso: {e.code}: {e.message}",
            at=now,
        )
        raise
    Audit(catalog).record(
        "login",
        initiator=signed.user.email,
        client_ip=client_ip,
        resource="portal",
        detail=f"sso={settings.issuer}" + (" (user created)" if signed.created else ""),
        at=now,
    )
    return SignedIn(signed.user, flow.get("next", "/recordings"), signed.created, signed.groups)


def _redeem(settings: OidcSettings, flow: dict[str, str], code: str, now: datetime) -> Identity:
    meta = discover(settings)
    with _client(settings, meta, flow["redirect_uri"]) as client:
        try:
            token = client.fetch_token(
                meta["token_endpoint"], code=code, code_verifier=flow["verifier"]
            )
        except (OAuth2Error, httpx.HTTPError) as e:
            raise SsoError("token_exchange", f"the provider did not redeem the code: {e}") from None
        id_token = token.get("id_token")
        if not id_token:
            raise SsoError("bad_token", "the provider sent no ID token")
        claims = verify_id_token(settings, meta, id_token, flow["nonce"], now)
        if meta.get("userinfo_endpoint") and token.get("access_token"):
            try:
                r = client.get(meta["userinfo_endpoint"])
                r.raise_for_status()
                info = r.json()
            except (httpx.HTTPError, ValueError) as e:
                raise SsoError("provider_unreachable", f"cannot read userinfo: {e}") from None
            if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
                # Core §5.3.2: a userinfo answer about someone else must not be used
                raise SsoError("bad_token", "userinfo is about another subject")
            claims = {**claims, **{k: v for k, v in info.items() if k not in _PROTECTED}}
    return identity_of(settings, claims)


_PROTECTED = {"iss", "aud", "azp", "exp", "iat", "nbf", "nonce", "sub", "auth_time", "at_hash"}


def verify_id_token(
    settings: OidcSettings, meta: dict[str, Any], id_token: str, nonce: str, now: datetime
) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, lifetime and nonce hold."""
    algs = [
        a for a in meta.get("id_token_signing_alg_values_supported", ["RS256"]) if a in SIGNING_ALGS
    ]
    if not algs:
        raise SsoError(
            "provider_misconfigured", "the provider offers no asymmetric ID token algorithm"
        )
    try:
        try:
            token = jwt.decode(id_token, _key_set(meta["jwks_uri"]), algorithms=algs)
        except InvalidKeyIdError:  # the provider rotated its keys since we cached them
            token = jwt.decode(id_token, _key_set(meta["jwks_uri"], fresh=True), algorithms=algs)
        jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except JoseError as e:
        raise SsoError("bad_token", f"the ID token does not verify: {e}") from None
    claims = dict(token.claims)
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != settings.client_id:
        raise SsoError(
            "bad_token", "the ID token is for several audiences but not authorised for us"
        )
    return claims


def identity_of(settings: OidcSettings, claims: dict[str, Any]) -> Identity:
    groups: list[str] | None = None
    if settings.groups_claim and settings.groups_claim in claims:
        raw = claims[settings.groups_claim]
        if isinstance(raw, str):
            raw = [raw]
        groups = [str(g) for g in raw] if isinstance(raw, list) else []
    verified = claims.get("email_verified")
    return Identity(
        subject=str(claims.get("sub", "")),
        email=str(claims.get("email") or "").strip().lower(),
        email_verified=verified is True or verified == "true",
        groups=groups,
        claims=claims,
    )


# ---------------------------------------------------------------- the account


def sign_in(
    catalog: Catalog, settings: OidcSettings, identity: Identity, *, now: datetime
) -> SignedIn:
    """Match (or create) the account for a verified identity and set its groups."""
    email = identity.email
    if not email or "@" not in email:
        raise SsoError("no_email", "the provider sent no e-mail address (ask for the email scope)")
    if settings.require_verified_email and not identity.email_verified:
        raise SsoError("email_not_verified", f"the provider has not verified {email}")
    if email.endswith("@" + SFTP_EMAIL_DOMAIN):
        raise SsoError("reserved", "this address belongs to the hosted SFTP user")
    users = Users(catalog)
    directory = Directory(catalog)
    audit = Audit(catalog)
    user = users.by_email(email)
    created = False
    if user is None:
        try:
            # a random password nobody is told, and "SSO only": the password form stays shut
            user = users.create(email, settings.default_role, now=now, sso_only=True).user
        except UserError as e:
            raise SsoError("cannot_create", str(e)) from None
        created = True
        audit.record(
            "user.create",
            initiator=f"sso:{email}",
            resource=f"user:{email}",
            changes=[
                FieldChange(field="role", new=user.role.value),
                FieldChange(field="sso_only", new=True),
            ],
            detail=f"first single sign-on ({settings.issuer}, sub {identity.subject})",
            at=now,
        )
    if user.disabled:
        raise SsoError("disabled", "this account is disabled")
    if users.is_locked(user.id, now):
        raise SsoError("locked", "this account is locked for now; try again later")
    groups: list[str] | None = None
    if identity.groups is not None:
        known = {g.name for g in directory.groups()}
        groups = sorted(set(identity.groups) & known)
        before = directory.groups_of(user.id)
        if directory.set_user_groups(user.id, groups):
            ignored = sorted(set(identity.groups) - known)
            audit.record(
                "user.update",
                initiator=f"sso:{email}",
                resource=f"user:{email}",
                changes=[FieldChange(field="groups", old=before, new=groups)],
                detail="groups from the provider's "
                f"{settings.groups_claim!r} claim"
                + (f"; not recflow groups: {', '.join(ignored)[:300]}" if ignored else ""),
                at=now,
            )
    if user.sso_only and directory.user_settings(user.id).must_change_password:
        # an account without a usable password cannot be asked to change it
        directory.set_user_settings(user.id, must_change_password=False)
    users.record_success(user.id, now)
    return SignedIn(users.get(user.id) or user, "", created, groups)
