"""Salesforce: a completed call ``Task`` linked to the Contact or Lead found by phone number.

What the call-logging products write (see docs/connectors.md): ``TaskSubtype``/``Type`` = Call,
``CallType``, ``CallDurationInSeconds``, ``CallObject`` (our recording id), ``Description`` with
the transcript excerpt and the portal link, ``Status`` = Completed, ``WhoId``. Matching: SOSL
``IN PHONE FIELDS``, then an exact E.164 comparison; Contact beats Lead, the most recently
modified record wins a tie. Dedup: upsert on an External ID field when one is configured,
otherwise look the Task up by ``CallObject`` first. simple-salesforce is blocking (requests), so
every call runs in a worker thread.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar, Literal

import requests
from pydantic import Field, SecretStr, model_validator

from connectors.base import (
    AuthError,
    CallActivity,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    PermanentError,
    RetriableError,
    error_for_status,
)
from connectors.phone import e164
from connectors.transport import run_blocking

_DESCRIPTION_MAX = 32000
_SOSL_RESERVED = set("?&|!{}[]()^~*:\\\"'+-")
_CALL_TYPES = {"inbound": "Inbound", "outbound": "Outbound", "internal": "Internal"}
_sessions: dict[str, tuple[str, str, float]] = {}  # OAuth key → (session id, instance, until)
_MATCH_DEFAULT: tuple[Literal["Contact", "Lead"], ...] = ("Contact", "Lead")
_PHONE_FIELDS = ("Phone", "MobilePhone", "HomePhone", "OtherPhone", "AssistantPhone")


class SalesforceConfig(ConnectorConfig):
    instance_url: str = Field(description="Org URL, e.g. https://acme.my.salesforce.com")
    access_token: SecretStr | None = Field(None, description="OAuth access token (session id)")
    username: str = Field("", description="API user (username/password login instead of a token)")
    password: SecretStr | None = Field(None, description="API user's password")
    security_token: SecretStr | None = Field(None, description="API user's security token")
    domain: str = Field("login", description="Login domain: login, test, or a My Domain prefix")
    consumer_key: str = Field(
        "", description="Connected app consumer key (OAuth client credentials or JWT bearer)"
    )
    consumer_secret: SecretStr | None = Field(
        None, description="Connected app consumer secret: client-credentials flow (My Domain)"
    )
    private_key: SecretStr | None = Field(
        None, description="PEM private key of the connected app certificate: JWT bearer flow"
    )
    login_url: str = Field(
        "",
        description="Token endpoint host when not https://<domain>.salesforce.com "
        "(a proxy or test server)",
    )
    api_version: str = Field("59.0", description="REST API version")
    external_id_field: str = Field(
        "",
        description="Task External ID field (e.g. Recording_Id__c) for upserts; empty = "
        "dedup by CallObject",
    )
    match_objects: list[Literal["Contact", "Lead"]] = Field(
        default_factory=lambda: list(_MATCH_DEFAULT),
        description="Objects searched by phone, in priority order",
    )
    default_region: str = Field("US", description="Region for numbers without a country code")
    owner_id: str = Field("", description="OwnerId of the Tasks; empty = the API user")
    ca_file: str = Field("", description="CA bundle to trust; empty = system store")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")

    @model_validator(mode="after")
    def _auth(self) -> SalesforceConfig:
        if self.consumer_secret is not None or self.private_key is not None:
            if not self.consumer_key:
                raise ValueError("consumer_secret / private_key need consumer_key")
            if self.private_key is not None and not self.username:
                raise ValueError("the JWT bearer flow (private_key) needs username")
            if self.private_key is None and self.domain in ("login", "test"):
                raise ValueError("client credentials need your My Domain as domain (acme.my)")
            return self
        if self.access_token is None and not (self.username and self.password):
            raise ValueError(
                "set access_token, username + password (+ security_token), consumer_key + "
                "consumer_secret, or username + consumer_key + private_key"
            )
        return self


class _Session(requests.Session):
    """A requests session with a default timeout (simple-salesforce has no timeout option) that
    can send the OAuth token request, which simple-salesforce hard-wires to
    ``https://<domain>.salesforce.com``, to ``login_url`` instead."""

    def __init__(self, timeout: float, domain: str = "", login_url: str = "") -> None:
        super().__init__()
        self._timeout = timeout
        self._login_from = f"https://{domain}.salesforce.com" if domain else ""
        self._login_to = login_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        if self._login_to and self._login_from and str(url).startswith(self._login_from):
            url = self._login_to + str(url)[len(self._login_from) :]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


def sosl_escape(term: str) -> str:
    return "".join("\\" + ch if ch in _SOSL_RESERVED else ch for ch in term)


def soql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def task_fields(call: CallActivity, who_id: str | None, owner_id: str = "") -> dict[str, Any]:
    """The Task for one call (pure; golden-tested)."""
    fields: dict[str, Any] = {
        "Subject": call.subject[:255],
        "Description": call.body[:_DESCRIPTION_MAX],
        "Type": "Call",
        "TaskSubtype": "Call",
        "Status": "Completed",
        "CallType": _CALL_TYPES.get(call.direction, "Inbound"),
        "CallDurationInSeconds": round(call.duration_seconds),
        "CallObject": call.recording_id[:255],
        "ActivityDate": call.started_at.date().isoformat(),
    }
    if who_id:
        fields["WhoId"] = who_id
    if owner_id:
        fields["OwnerId"] = owner_id
    return fields


def pick_match(
    records: list[dict[str, Any]], number: str, order: list[str], region: str
) -> str | None:
    """Contact beats Lead; within a type the most recently modified exact E.164 match wins."""
    target = e164(number, region)
    if not target:
        return None
    best: tuple[int, str, str] | None = None
    for rec in records:
        typ = rec.get("attributes", {}).get("type", "")
        if typ not in order:
            continue
        phones = [rec.get(f) for f in _PHONE_FIELDS if rec.get(f)]
        if phones and not any(e164(str(p), region) == target for p in phones):
            continue
        key = (order.index(typ), _neg(rec.get("LastModifiedDate") or ""), rec["Id"])
        if best is None or key < best:
            best = key
    return best[2] if best else None


def _neg(stamp: str) -> str:
    # sort newest first with an ascending sort: invert each character of the ISO stamp
    return "".join(chr(0x10FFFF - ord(c)) for c in stamp)


class SalesforceConnector(Connector):
    kind: ClassVar[str] = "salesforce"
    requires: ClassVar[tuple[str, ...]] = ("simple_salesforce",)
    extra: ClassVar[str] = "crm"
    display_name: ClassVar[str] = "Salesforce"
    config_model: ClassVar[type[ConnectorConfig]] = SalesforceConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"log_call"})
    config: SalesforceConfig

    def _oauth_login(self, sess: requests.Session):  # type: ignore[no-untyped-def]
        from simple_salesforce import Salesforce

        c = self.config
        if c.private_key is not None:  # OAuth 2.0 JWT bearer
            return Salesforce(
                username=c.username,
                consumer_key=c.consumer_key,
                privatekey=c.private_key.get_secret_value(),
                domain=c.domain,
                session=sess,
                version=c.api_version,
            )
        assert c.consumer_secret is not None  # OAuth 2.0 client credentials
        return Salesforce(
            consumer_key=c.consumer_key,
            consumer_secret=c.consumer_secret.get_secret_value(),
            domain=c.domain,
            session=sess,
            version=c.api_version,
        )

    def _oauth_key(self) -> str:
        """The login cache key of the OAuth flows ('' for the others)."""
        c = self.config
        secret = c.private_key or c.consumer_secret
        if secret is None:
            return ""
        digest = hashlib.sha256(secret.get_secret_value().encode()).hexdigest()
        return f"{c.login_url}|{c.domain}|{c.consumer_key}|{c.username}|{digest}"

    def _with_client(self, fn):  # type: ignore[no-untyped-def]
        """``fn(client)``; a cached OAuth session that expired or was revoked is dropped and
        the call made once more after a fresh login."""
        from simple_salesforce.exceptions import SalesforceExpiredSession

        key = self._oauth_key()
        cached = bool(key) and key in _sessions
        try:
            return fn(self._client())
        except SalesforceExpiredSession:
            if not cached:
                raise
            _sessions.pop(key, None)
            return fn(self._client())

    def _client(self):  # type: ignore[no-untyped-def]
        from simple_salesforce import Salesforce

        c = self.config
        sess = _Session(c.timeout, c.domain, c.login_url)
        # REQUESTS_CA_BUNDLE in the environment would override ``verify``; config wins here
        sess.trust_env = False
        sess.verify = c.ca_file or True
        key = self._oauth_key()
        if key:
            hit = _sessions.get(key)
            if hit and hit[2] > time.monotonic():
                return Salesforce(
                    instance_url=hit[1], session_id=hit[0], session=sess, version=c.api_version
                )
            sf = self._oauth_login(sess)
            # these tokens come without an expiry: reuse one for at most an hour (half the
            # default session timeout), and log in again at once when one is refused
            _sessions[key] = (sf.session_id, f"https://{sf.sf_instance}", time.monotonic() + 3600)
            return sf
        if c.access_token is not None:
            return Salesforce(
                instance_url=c.instance_url,
                session_id=c.access_token.get_secret_value(),
                session=sess,
                version=c.api_version,
            )
        return Salesforce(
            username=c.username,
            password=c.password.get_secret_value() if c.password else "",
            security_token=c.security_token.get_secret_value() if c.security_token else "",
            domain=c.domain,
            session=sess,
            version=c.api_version,
        )

    async def log_call(self, call: CallActivity, *, idempotency_key: str) -> str:
        return await run_blocking(
            lambda: self._with_client(lambda sf: self._upsert_task(sf, call, idempotency_key)),
            _vendor_error,
        )

    async def check(self) -> CheckResult:
        try:
            await run_blocking(
                lambda: self._with_client(lambda sf: sf.query("SELECT Id FROM Task LIMIT 1")),
                _vendor_error,
            )
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message="query ok")

    # ------------------------------------------------------------ blocking part

    def _find_who(self, sf: Any, number: str) -> str | None:
        target = e164(number, self.config.default_region)
        if not target:
            return None
        field_list = "Id, LastModifiedDate, " + ", ".join(
            f for f in _PHONE_FIELDS if f != "AssistantPhone"
        )
        returning = []
        for obj in self.config.match_objects:
            fl = field_list if obj == "Contact" else "Id, LastModifiedDate, Phone, MobilePhone"
            where = " WHERE IsConverted = false" if obj == "Lead" else ""
            returning.append(f"{obj}({fl}{where} ORDER BY LastModifiedDate DESC LIMIT 20)")
        sosl = f"FIND {{{sosl_escape(target)}}} IN PHONE FIELDS RETURNING {', '.join(returning)}"
        res = sf.search(sosl) or {}
        records = res.get("searchRecords", []) if isinstance(res, dict) else []
        return pick_match(
            records, target, list(self.config.match_objects), self.config.default_region
        )

    def _upsert_task(self, sf: Any, call: CallActivity, key: str) -> str:
        who = self._find_who(sf, call.external_number) if call.external_number else None
        fields = task_fields(call, who, self.config.owner_id)
        ext = self.config.external_id_field
        if ext:
            status = sf.Task.upsert(f"{ext}/{key}", fields)
            if status not in (200, 201, 204):
                raise PermanentError(f"salesforce: upsert answered {status}")
            rows = sf.query(f"SELECT Id FROM Task WHERE {ext} = {soql_quote(key)} LIMIT 1")
            recs = rows.get("records", [])
            return str(recs[0]["Id"]) if recs else f"{ext}/{key}"
        rows = sf.query(
            f"SELECT Id FROM Task WHERE CallObject = {soql_quote(call.recording_id)} LIMIT 1"
        )
        recs = rows.get("records", [])
        if recs:
            # TaskSubtype is create-only in Salesforce
            update = {k: v for k, v in fields.items() if k != "TaskSubtype"}
            sf.Task.update(recs[0]["Id"], update)
            return str(recs[0]["Id"])
        created = sf.Task.create(fields)
        if not created.get("success", True):
            raise PermanentError(f"salesforce: create failed: {created.get('errors')}")
        return str(created["id"])


def _vendor_error(e: BaseException) -> ConnectorError | None:
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

    if isinstance(e, SalesforceAuthenticationFailed):
        # the OAuth/SOAP login was refused: consumer key/secret, certificate, user or password
        return AuthError(f"salesforce: login refused ({getattr(e, 'code', '')})")
    return _map_sf(e) if isinstance(e, SalesforceError) else None


def _map_sf(e: Any) -> ConnectorError:
    status = int(getattr(e, "status", 0) or 0)
    content = str(getattr(e, "content", ""))[:300]
    if "REQUEST_LIMIT_EXCEEDED" in content:
        return RetriableError(f"salesforce: request limit exceeded (HTTP {status})")
    if status == 300:
        return PermanentError("salesforce: external id matches more than one Task")
    if status == 0:
        return ConfigError(f"salesforce: {type(e).__name__}")
    # the body may quote our request back; keep the class and status only
    return error_for_status(status, f"salesforce {type(e).__name__}")
