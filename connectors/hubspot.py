"""HubSpot: a ``calls`` engagement associated to the contact found by phone number.

Properties as HubSpot's calls API defines them: ``hs_timestamp``, ``hs_call_direction``,
``hs_call_duration`` (milliseconds), ``hs_call_from_number``/``hs_call_to_number``,
``hs_call_body``, ``hs_call_recording_url`` (HubSpot accepts HTTPS only), ``hs_call_status``,
``hs_call_external_id`` (our idempotency key: searched before creating, so a retry updates the
call it already made). Association type 194 = call → contact. hubspot-api-client is blocking
(urllib3), so calls run in a worker thread.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr

from connectors.base import (
    CallActivity,
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorError,
    error_for_status,
)
from connectors.phone import e164
from connectors.transport import run_blocking

CALL_TO_CONTACT = 194
_BODY_MAX = 65000


class HubspotConfig(ConnectorConfig):
    access_token: SecretStr = Field(description="Private-app access token (pat-…)")
    host: str = Field("https://api.hubapi.com", description="API base URL")
    default_region: str = Field("US", description="Region for numbers without a country code")
    owner_id: str = Field("", description="hubspot_owner_id of the calls; empty = none")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per HTTP request")


def _vendor_error(e: BaseException) -> ConnectorError | None:
    """hubspot-api-client's ApiException carries ``status``, ``reason`` and ``headers``."""
    status = getattr(e, "status", None)
    if isinstance(status, int) and status >= 400:
        headers = getattr(e, "headers", None) or {}
        ra = headers.get("Retry-After") if hasattr(headers, "get") else None
        return error_for_status(status, f"hubspot {getattr(e, 'reason', '')}", retry_after=ra)
    return None


def call_properties(call: CallActivity, idempotency_key: str, owner_id: str = "") -> dict[str, str]:
    """The engagement's properties (pure; golden-tested)."""
    props = {
        "hs_timestamp": call.started_at.isoformat().replace("+00:00", "Z"),
        "hs_call_title": call.subject[:255],
        "hs_call_body": call.body[:_BODY_MAX],
        "hs_call_direction": "OUTBOUND" if call.direction == "outbound" else "INBOUND",
        "hs_call_duration": str(round(call.duration_seconds * 1000)),
        "hs_call_from_number": call.from_number,
        "hs_call_to_number": call.to_number,
        "hs_call_status": "COMPLETED",
        "hs_call_external_id": idempotency_key,
    }
    if call.recording_url.startswith("https://"):
        props["hs_call_recording_url"] = call.recording_url
    if owner_id:
        props["hubspot_owner_id"] = owner_id
    return props


class HubspotConnector(Connector):
    kind: ClassVar[str] = "hubspot"
    requires: ClassVar[tuple[str, ...]] = ("hubspot",)
    extra: ClassVar[str] = "crm"
    display_name: ClassVar[str] = "HubSpot"
    config_model: ClassVar[type[ConnectorConfig]] = HubspotConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"log_call"})
    # private apps: 100 requests per 10 s; a call logs with 3 requests
    default_rate_limit: ClassVar[tuple[float, int] | None] = (180.0, 10)
    config: HubspotConfig

    def _client(self):  # type: ignore[no-untyped-def]
        from hubspot import HubSpot

        return HubSpot(
            access_token=self.config.access_token.get_secret_value(), host=self.config.host
        )

    async def log_call(self, call: CallActivity, *, idempotency_key: str) -> str:
        return await run_blocking(
            lambda: self._log(self._client(), call, idempotency_key), _vendor_error
        )

    async def check(self) -> CheckResult:
        try:
            await run_blocking(
                lambda: self._client().crm.contacts.basic_api.get_page(
                    limit=1, _request_timeout=self.config.timeout
                ),
                _vendor_error,
            )
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message="contacts readable")

    # ------------------------------------------------------------ blocking part

    def _search(self, api: Any, filter_groups: list[dict[str, Any]], props: list[str]) -> list[Any]:
        from hubspot.crm.objects.calls import PublicObjectSearchRequest

        req = PublicObjectSearchRequest(filter_groups=filter_groups, properties=props, limit=10)
        res = api.do_search(public_object_search_request=req, _request_timeout=self.config.timeout)
        return list(res.results or [])

    def _find_contact(self, client: Any, number: str) -> str | None:
        target = e164(number, self.config.default_region)
        if not target:
            return None
        groups = [
            {"filters": [{"propertyName": p, "operator": "EQ", "value": target}]}
            for p in ("phone", "mobilephone")
        ]
        found = self._search(
            client.crm.contacts.search_api, groups, ["phone", "mobilephone", "lastmodifieddate"]
        )
        exact = [
            c
            for c in found
            if any(
                e164(str((c.properties or {}).get(p) or ""), self.config.default_region) == target
                for p in ("phone", "mobilephone")
            )
        ]
        if not exact:
            return None
        # the most recently modified contact wins a tie (what Aircall and others do)
        exact.sort(
            key=lambda c: str((c.properties or {}).get("lastmodifieddate") or ""), reverse=True
        )
        return str(exact[0].id)

    def _log(self, client: Any, call: CallActivity, key: str) -> str:
        from hubspot.crm.objects.calls import (
            SimplePublicObjectInput,
            SimplePublicObjectInputForCreate,
        )

        props = call_properties(call, key, self.config.owner_id)
        existing = self._search(
            client.crm.objects.calls.search_api,
            [
                {
                    "filters": [
                        {"propertyName": "hs_call_external_id", "operator": "EQ", "value": key}
                    ]
                }
            ],
            ["hs_call_external_id"],
        )
        if existing:
            call_id = str(existing[0].id)
            client.crm.objects.calls.basic_api.update(
                call_id,
                simple_public_object_input=SimplePublicObjectInput(properties=props),
                _request_timeout=self.config.timeout,
            )
            return call_id
        contact = self._find_contact(client, call.external_number)
        assoc = (
            [
                {
                    "to": {"id": contact},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": CALL_TO_CONTACT,
                        }
                    ],
                }
            ]
            if contact
            else []
        )
        created = client.crm.objects.calls.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
                properties=props, associations=assoc
            ),
            _request_timeout=self.config.timeout,
        )
        return str(created.id)
