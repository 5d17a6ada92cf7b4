"""REST API for SMS and contacts: ``POST /sms`` ingests, ``GET /sms`` lists, the monthly CSV,
and the contacts directory. Mounted by portal/api.py under ``/api/v1`` behind bearer tokens:
``make_router(auth)`` takes the portal's auth dependency, so this module knows nothing of tokens.

``POST /sms`` reads the raw body itself instead of letting FastAPI parse it: a body that is not
valid UTF-8 must be answered 400 with the field named (``text``), which a JSON parser that
rejects the whole document cannot tell us.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from catalog.models import Direction
from catalog.repository import Catalog
from catalog.sms import (
    Sms,
    SmsStatus,
    SmsValidationError,
    contacts,
    delete_contact,
    get_sms,
    ingest_sms_ex,
    list_sms,
    upsert_contact,
)

MAX_BODY_BYTES = 64 * 1024
# catalog field → the name the API caller used
_API_FIELD = {"from_number": "from", "to_number": "to", "received_at": "timestamp"}


class SmsIn(BaseModel):
    """One SMS to store. Retrying the same body (same numbers, timestamp and text) or the same
    ``id`` returns the stored SMS (200) instead of a second one (201)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    subscriber: str | None = Field(
        None, description="The subscriber's number (must be from or to); sets the direction"
    )
    from_: str = Field(alias="from", description="Sender number (E.164) or sender id")
    to: str = Field(description="Recipient number (E.164)")
    timestamp: str | float | None = Field(
        None, description="ISO 8601 (no offset = UTC) or epoch seconds; default: now"
    )
    text: str = Field(description="The message (UTF-8, at most 1,600 characters by default)")
    id: str | None = Field(None, description="Your id for this SMS: makes retries idempotent")
    from_name: str | None = Field(None, description="Sender display name, if known")
    to_name: str | None = Field(None, description="Recipient display name, if known")


class SmsOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Interaction id")
    subscriber: str
    from_number: str
    from_name: str
    to_number: str
    to_name: str
    direction: Direction
    received_at: datetime
    text: str
    source: str
    status: SmsStatus
    created_at: datetime


class SmsPage(BaseModel):
    items: list[SmsOut]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, description="Name shown in brackets")


def _out(sms: Sms) -> SmsOut:
    return SmsOut(**sms.model_dump(include=set(SmsOut.model_fields)))


def _bad(field: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": "bad_request", "reason": f"{field}: {message}", "field": field}, status
    )


def default_catalog(request: Request) -> Catalog:
    """The portal's catalog when mounted in the portal; else one opened from the settings."""
    portal = getattr(request.app.state, "portal", None)
    if portal is not None:
        return portal.catalog  # type: ignore[no-any-return]
    return _own_catalog()


@lru_cache
def _own_catalog() -> Catalog:
    return Catalog.open()


_SQLITE_WRITES = threading.Lock()


def _serialised(cat: Catalog) -> Callable[..., Any]:
    """SQLite takes one writer at a time and makes the others sleep-and-retry (busy timeout
    back-off), so 32 request threads writing at once are slower than taking turns here.
    PostgreSQL handles concurrent inserts itself."""

    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not cat.db.is_sqlite:
            return fn(*args, **kwargs)
        with _SQLITE_WRITES:
            return fn(*args, **kwargs)

    return call


def parse_sms_body(raw: bytes) -> SmsIn | JSONResponse:
    """The JSON body, with every problem named by its field."""
    # surrogateescape keeps invalid UTF-8 bytes as lone surrogates inside the string they
    # belong to, so the validation below can say which field held them
    text = raw.decode("utf-8", "surrogateescape")
    try:
        doc = json.loads(text)
    except ValueError as e:
        return _bad("body", f"not valid JSON ({e})")
    if not isinstance(doc, dict):
        return _bad("body", "must be a JSON object")
    allowed = {f.alias or name for name, f in SmsIn.model_fields.items()}
    for key in doc:
        if key not in allowed:
            return _bad(str(key), f"unknown field (known: {', '.join(sorted(allowed))})")
    for key in ("from", "to", "text"):
        if doc.get(key) in (None, ""):
            return _bad(key, "missing")
    for key, value in doc.items():
        if key == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
            continue
        if value is not None and not isinstance(value, str):
            return _bad(key, "must be a string")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                return _bad(key, f"not valid UTF-8 (at character {e.start})")
    return SmsIn.model_validate(doc)


def make_router(
    auth: Callable[..., Any] | None = None, catalog: Callable[..., Catalog] | None = None
) -> APIRouter:
    """The SMS router. ``auth``: the portal's dependency that rejects unauthenticated callers;
    ``catalog``: a dependency returning the Catalog (the portal's own by default)."""
    deps = [Depends(auth)] if auth is not None else []
    router = APIRouter(tags=["sms"], dependencies=deps)
    CatalogDep = Depends(catalog or default_catalog)

    @router.post(
        "/sms",
        response_model=SmsOut,
        status_code=201,
        summary="Store an SMS (and email it when SMS-to-email is on)",
        responses={
            200: {"description": "Already stored (a retry)"},
            400: {"description": "Bad field"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SmsIn.model_json_schema(by_alias=True)}},
            }
        },
    )
    async def post_sms(request: Request, cat: Catalog = CatalogDep) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _bad("body", f"larger than {MAX_BODY_BYTES} bytes", 413)
        parsed = parse_sms_body(raw)
        if isinstance(parsed, JSONResponse):
            return parsed
        from catalog.models import utcnow

        try:
            sms, created = await run_in_threadpool(
                lambda: _serialised(cat)(
                    ingest_sms_ex,
                    cat,
                    from_number=parsed.from_,
                    to_number=parsed.to,
                    text=parsed.text,
                    received_at=parsed.timestamp if parsed.timestamp is not None else utcnow(),
                    call_id=f"api:{parsed.id}" if parsed.id else "",
                    from_name=parsed.from_name or "",
                    to_name=parsed.to_name or "",
                    subscriber=parsed.subscriber,
                    source="api",
                )
            )
        except SmsValidationError as e:
            return _bad(_API_FIELD.get(e.field, e.field), e.message)
        return JSONResponse(
            _out(sms).model_dump(mode="json"),
            status_code=201 if created else 200,
            headers={"Location": f"sms/{sms.id}"},
        )

    @router.get("/sms", response_model=SmsPage, summary="List SMS, newest first")
    def get_sms_list(
        cat: Catalog = CatalogDep,
        limit: int = Query(100, ge=1, le=1000),
        number: str | None = Query(None, description="Only SMS from or to this number"),
        since: datetime | None = Query(None, description="Received at or after (ISO 8601)"),
        until: datetime | None = Query(None, description="Received before (ISO 8601)"),
    ) -> SmsPage:
        items = list_sms(cat, limit=limit, number=number, since=since, until=until)
        return SmsPage(items=[_out(s) for s in items])

    @router.get(
        "/sms/monthly/{year}/{month}",
        summary="The monthly CSV (seed format)",
        response_class=Response,
        responses={
            200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}
        },
    )
    def get_monthly_csv(
        year: Annotated[int, PathParam(ge=2000, le=9999)],
        month: Annotated[int, PathParam(ge=1, le=12)],
        cat: Catalog = CatalogDep,
    ) -> Response:
        from catalog.sms import get_sms_settings, iter_sms
        from services.sms_format import csv_file_name, csv_text, month_bounds

        try:
            start, end = month_bounds(year, month)
        except (ValueError, OverflowError) as e:
            return _bad("month", str(e))
        name = csv_file_name(get_sms_settings(cat).monthly_csv, cat.account().name, year, month)
        body = csv_text(iter_sms(cat, since=start, until=end))
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get("/sms/{sms_id}", response_model=SmsOut, summary="One SMS")
    def get_one(sms_id: str, cat: Catalog = CatalogDep) -> Response | SmsOut:
        sms = get_sms(cat, sms_id)
        if sms is None:
            return JSONResponse({"error": "not_found", "reason": f"no SMS {sms_id}"}, 404)
        return _out(sms)

    @router.get("/contacts", summary="The contacts directory (number → name)")
    def get_contacts(cat: Catalog = CatalogDep) -> dict[str, str]:
        return contacts(cat)

    @router.put("/contacts/{number}", summary="Add or rename a contact")
    def put_contact(number: str, body: ContactIn, cat: Catalog = CatalogDep) -> Response:
        try:
            upsert_contact(cat, number, body.name.strip())
        except SmsValidationError as e:
            return _bad("number", e.message)
        return JSONResponse({"number": number, "name": body.name.strip()})

    @router.delete("/contacts/{number}", status_code=204, summary="Remove a contact")
    def remove_contact(number: str, cat: Catalog = CatalogDep) -> Response:
        if not delete_contact(cat, number):
            return JSONResponse({"error": "not_found", "reason": f"no contact {number}"}, 404)
        return Response(status_code=204)

    return router
