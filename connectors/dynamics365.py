"""Microsoft Dynamics 365 (Dataverse Web API): a completed phone-call activity per call, regarding
the contact (or lead) found by phone number, with the caller/callee as activity parties.

* Auth — OAuth2 client credentials against Microsoft Entra ID (``POST
  {authority}/{tenant}/oauth2/v2.0/token``, scope ``{instance}/.default``). The access token is
  cached per app registration and fetched again a minute before it expires, or at once when the
  API answers 401.
* Matching — ``GET contacts?$filter=telephone1 eq '…' or mobilephone eq '…' or telephone2 eq '…'``
  (then ``leads``), tried with the E.164 form and the number as signalled, then an exact E.164
  comparison; the most recently modified record wins.
* Upsert — the activity id is a UUID derived from the idempotency key and written with ``PATCH
  phonecalls(<id>)``, which Dataverse treats as an upsert (creates when missing): a retry updates
  the call it already logged instead of adding one. A second PATCH sets it Completed
  (``statecode`` 1, ``statuscode`` 2).

The Web API is OData JSON over HTTPS, spoken with the shared JSON-over-HTTP helper; MSAL would
only add a token cache this module keeps in a dict.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from pydantic import Field, SecretStr, field_validator

from connectors.base import (
    AuthError,
    CallActivity,
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorError,
)
from connectors.phone import e164
from connectors.transport import request_json, send

_NS = uuid.UUID("6f1c4d52-5a3e-4f7e-9d0b-6a1f1f0c2e11")  # recflow's namespace for activity ids
_SUBJECT_MAX = 200  # phonecall.subject is 200 characters
_FIELDS = {
    "contact": ("contactid", ("telephone1", "mobilephone", "telephone2")),
    "lead": ("leadid", ("telephone1", "mobilephone", "telephone2")),
}
_tokens: dict[str, tuple[str, float]] = {}
_MATCH_DEFAULT: tuple[Literal["contact", "lead"], ...] = ("contact", "lead")


class Dynamics365Config(ConnectorConfig):
    instance_url: str = Field(description="Environment URL, e.g. https://acme.crm4.dynamics.com")
    tenant_id: str = Field(description="Microsoft Entra tenant id (GUID or domain)")
    client_id: str = Field(description="Application (client) id of the app registration")
    client_secret: SecretStr = Field(description="Client secret of the app registration")
    authority_url: str = Field(
        "https://login.microsoftonline.com", description="Entra ID authority (sovereign clouds)"
    )
    api_version: str = Field("9.2", description="Web API version")
    match_entities: list[Literal["contact", "lead"]] = Field(
        default_factory=lambda: list(_MATCH_DEFAULT),
        description="Entities searched by phone, in priority order",
    )
    default_region: str = Field("US", description="Region for numbers without a country code")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")

    @field_validator("instance_url", "authority_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return v.rstrip("/")


def activity_id(idempotency_key: str) -> str:
    return str(uuid.uuid5(_NS, idempotency_key))


def odata_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def phonecall_body(call: CallActivity, regarding: tuple[str, str] | None) -> dict[str, Any]:
    """The phonecall entity (pure; tested). ``regarding`` is (entity, id) of the match."""
    outbound = call.direction == "outbound"
    body: dict[str, Any] = {
        "subject": " ".join(call.subject.split())[:_SUBJECT_MAX],
        "description": call.body,
        "phonenumber": call.external_number[:200],
        "directioncode": outbound,  # true = outgoing
        "actualdurationminutes": max(1, round(call.duration_seconds / 60))
        if call.duration_seconds
        else 0,
        "actualstart": call.started_at.isoformat().replace("+00:00", "Z"),
    }
    if call.ended_at:
        body["actualend"] = call.ended_at.isoformat().replace("+00:00", "Z")
    if regarding:
        entity, rid = regarding
        ref = f"/{entity}s({rid})"
        body[f"regardingobjectid_{entity}@odata.bind"] = ref
        # participation type 1 = sender (from), 2 = to recipient
        body["phonecall_activity_parties"] = [
            {f"partyid_{entity}@odata.bind": ref, "participationtypemask": 2 if outbound else 1}
        ]
    return body


class Dynamics365Connector(Connector):
    kind: ClassVar[str] = "dynamics365"
    display_name: ClassVar[str] = "Microsoft Dynamics 365"
    config_model: ClassVar[type[ConnectorConfig]] = Dynamics365Config
    capabilities: ClassVar[frozenset[str]] = frozenset({"log_call"})
    # service protection: 6,000 requests per 5 min per user; 4 per call
    default_rate_limit: ClassVar[tuple[float, int] | None] = (300.0, 20)
    config: Dynamics365Config

    # ------------------------------------------------------------ OAuth2 client credentials

    def _token_key(self) -> str:
        c = self.config
        secret = hashlib.sha256(c.client_secret.get_secret_value().encode()).hexdigest()
        return f"{c.authority_url}|{c.tenant_id}|{c.client_id}|{c.instance_url}|{secret}"

    async def access_token(self, *, fresh: bool = False) -> str:
        key = self._token_key()
        # no lock: two deliveries racing at expiry fetch two tokens, both valid
        cached = _tokens.get(key)
        if cached and not fresh and cached[1] - 60 > time.time():
            return cached[0]
        c = self.config
        form = {
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret.get_secret_value(),
            "scope": f"{c.instance_url}/.default",
        }
        r = await send(
            "POST",
            f"{c.authority_url}/{c.tenant_id}/oauth2/v2.0/token",
            content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            what="dynamics365 token",
            timeout=c.timeout,
            ok_statuses=(400, 401),
        )
        data = r.json() if r.content else {}
        if r.status_code in (400, 401) or "access_token" not in data:
            # invalid_client, unauthorized_client, invalid_scope …: the app registration
            raise AuthError(
                f"dynamics365: token request refused: {data.get('error', r.status_code)}"
            )
        _tokens[key] = (str(data["access_token"]), time.time() + float(data["expires_in"]))
        return str(data["access_token"])

    async def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        c = self.config
        url = f"{c.instance_url}/api/data/v{c.api_version}/{path}"
        headers = {
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Accept": "application/json",
            **kwargs.pop("headers", {}),
        }
        for attempt in (1, 2):
            token = await self.access_token(fresh=attempt == 2)
            try:
                return await request_json(
                    method,
                    url,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                    what="dynamics365",
                    timeout=c.timeout,
                    **kwargs,
                )
            except AuthError:
                if attempt == 2:
                    raise
                # the token may have been revoked or expired early: fetch a new one once
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------ matching and logging

    async def find_regarding(self, number: str) -> tuple[str, str] | None:
        region = self.config.default_region
        target = e164(number, region)
        if not target:
            return None
        forms = list(dict.fromkeys([target, number.strip()]))
        for entity in self.config.match_entities:
            idf, phones = _FIELDS[entity]
            flt = " or ".join(f"{p} eq {odata_quote(v)}" for p in phones for v in forms)
            found = await self._api(
                "GET",
                f"{entity}s",
                params={
                    "$select": ",".join([idf, *phones, "modifiedon"]),
                    "$filter": flt,
                    "$orderby": "modifiedon desc",
                    "$top": "20",
                },
            )
            for rec in (found or {}).get("value") or []:
                if any(e164(str(rec.get(p) or ""), region) == target for p in phones):
                    return entity, str(rec[idf])
        return None

    async def log_call(self, call: CallActivity, *, idempotency_key: str) -> str:
        aid = activity_id(idempotency_key)
        regarding = await self.find_regarding(call.external_number)
        await self._api("PATCH", f"phonecalls({aid})", json=phonecall_body(call, regarding))
        await self._api("PATCH", f"phonecalls({aid})", json={"statecode": 1, "statuscode": 2})
        return aid

    async def check(self) -> CheckResult:
        try:
            who = await self._api("GET", "WhoAmI")
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"signed in as user {(who or {}).get('UserId', '?')}")
