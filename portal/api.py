"""REST API under /api/v1: bearer API tokens, JSON errors with a reason, keyset pagination.

A sub-application so it has its own OpenAPI document (/api/v1/openapi.json) that describes only
the API, and its own error format, while sharing the portal's middleware (allow-list, metrics).
"""

from __future__ import annotations

import importlib
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalog.models import (
    Delivery,
    DeliveryStatus,
    Transcript,
)
from portal.api_categories import router as categories_router
from portal.api_notes import router as notes_router
from portal.api_recording import RecordingOut
from portal.api_reports import router as reports_router
from portal.api_reviews import router as reviews_router
from portal.api_search import router as search_router
from portal.deps import ApiCaller, api_principal
from portal.recording_pages import audio_response, visible_recording
from portal.state import PortalState

log = logging.getLogger(__name__)

ERROR_SLUGS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    416: "range_not_satisfiable",
    422: "invalid_request",
    429: "too_many_requests",
}


class ApiError(BaseModel):
    """Every error: a stable slug and a sentence for people."""

    error: str = Field(description="Stable error code, e.g. unauthorized, not_found")
    reason: str = Field(description="Why, in words")


class RecordingPage(BaseModel):
    items: list[RecordingOut]
    next_cursor: str | None = Field(
        None, description="Pass as ?cursor= for the next page; null on the last page"
    )


class DeliveryPage(BaseModel):
    items: list[Delivery]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiError},
    401: {"model": ApiError},
    403: {"model": ApiError},
    404: {"model": ApiError},
    422: {"model": ApiError},
}


def create_api(st: PortalState) -> FastAPI:
    api = FastAPI(
        title="recflow API",
        version="1",
        description="Recordings, transcripts, deliveries and SMS. Authenticate with "
        "`Authorization: Bearer <token>` (create one with `recflow tokens create NAME`).",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        responses=ERRORS,
    )
    api.state.portal = st

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse(
            {
                "error": getattr(exc, "slug", None) or ERROR_SLUGS.get(exc.status_code, "error"),
                "reason": str(exc.detail),
            },
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "invalid_request", "reason": "; ".join(parts)[:2000]}, 422)

    # the list (quick search, filters, views, saved searches), advanced search, export and
    # saved searches: before /recordings/{recording_id} so /recordings/export is not an id
    api.include_router(search_router)
    api.include_router(categories_router)

    # GET /recordings/{recording_id} (with categories, custom fields, notes count) is in
    # portal/api_search.py

    @api.get(
        "/recordings/{recording_id}/audio",
        tags=["recordings"],
        response_class=Response,
        responses={
            200: {"content": {"audio/wav": {}}, "description": "The audio file"},
            206: {"content": {"audio/wav": {}}, "description": "The requested range"},
            416: {"model": ApiError},
        },
    )
    def get_audio(
        request: Request, recording_id: str, caller: ApiCaller, download: bool = False
    ) -> Response:
        """The audio; honours `Range: bytes=…` (206) so players can seek."""
        rec = visible_recording(st, caller, recording_id)
        return audio_response(request, st, caller, rec, download)

    @api.get(
        "/recordings/{recording_id}/transcript", response_model=Transcript, tags=["recordings"]
    )
    def get_transcript(recording_id: str, caller: ApiCaller) -> Transcript:
        """Segments with speaker, start, end, text and word timings."""
        rec = visible_recording(st, caller, recording_id)
        transcript = st.catalog.get_transcript(rec.id)
        if transcript is None:
            raise HTTPException(404, "this recording has no transcript (yet)")
        return transcript

    @api.get("/deliveries", response_model=DeliveryPage, tags=["deliveries"])
    def list_deliveries(
        caller: ApiCaller,
        subject_id: Annotated[str | None, Query(max_length=64)] = None,
        status: DeliveryStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> DeliveryPage:
        """Connector deliveries, most recently updated first."""
        items = st.catalog.list_deliveries(subject_id=subject_id, status=status, limit=limit)
        vis = caller.visibility()
        rec_ids = {d.subject_id for d in items if d.subject_kind == "recording"}
        recs = {r.id: r for r in st.catalog.recordings_by_ids(sorted(rec_ids))}
        items = [
            d
            for d in items
            if d.subject_kind != "recording"
            or (d.subject_id in recs and vis.allows(recs[d.subject_id]))
        ]
        return DeliveryPage(items=items)

    _mount_sms(api)
    api.include_router(notes_router)
    api.include_router(reports_router)
    api.include_router(reviews_router)
    from portal.api_users import router as users_router

    # people and directory changes may conflict with what exists (a group in use, a taken e-mail)
    api.include_router(users_router, responses={409: {"model": ApiError}})  # /users (issue 16)
    return api


def _mount_sms(api: FastAPI) -> None:
    """POST /sms lives in portal/api_sms.py (SMS feature); mounted when present, behind the same
    bearer-token dependency as everything else here."""
    try:
        mod = importlib.import_module("portal.api_sms")
    except ModuleNotFoundError as e:
        if e.name != "portal.api_sms":
            log.warning("portal.api_sms failed to import: %s", e)
        return
    make = getattr(mod, "make_router", None) or getattr(mod, "create_router", None)
    router = make(api_principal) if make else getattr(mod, "router", None)
    if router is not None:
        api.include_router(router, dependencies=[Depends(api_principal)])
