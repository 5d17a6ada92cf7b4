"""The portal's FastAPI application: ``create_app()`` is what `recflow portal` and `recflow up`
serve with uvicorn.

Every request passes, outermost first: uvicorn's ProxyHeadersMiddleware, installed only when
``RECFLOW_PORTAL_TRUSTED_PROXIES`` names proxies (it rewrites the client address from
``X-Forwarded-For`` for those peers alone; `recflow portal` runs uvicorn with its own proxy-header
handling off, so with no trusted proxy the header is ignored -- one code path, tested in-process
and served); then one gate that (1) enforces the account's IP allow-list on that address,
(2) sets security headers and the CSRF cookie, (3) counts the request for /metrics; then
:class:`portal.limits.BodyGuard`, which authenticates and size-checks any request body before a
byte of it is read. Pages live in routers under portal/, the
REST API is a sub-application at /api/v1 with its own OpenAPI document.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from catalog.models import utcnow
from catalog.repository import Catalog
from portal import (
    account_pages,
    admin_pages,
    announcement_pages,
    api,
    auth_pages,
    hold_pages,
    people_pages,
    quality_pages,
    recording_pages,
    sftp_pages,
    sso_pages,
    workspace_pages,
)
from portal.deps import (
    CSRF_COOKIE,
    Forbidden,
    LoginRequired,
    PasswordChangeRequired,
    csrf_token,
    state_of,
)
from portal.limits import BodyGuard
from portal.metrics import CONTENT_TYPE
from portal.openapi import declare_bearer_auth, drop_swagger_ui
from portal.security import allowed
from portal.settings import PortalSettings
from portal.state import HERE, PortalState

log = logging.getLogger(__name__)

# paths the allow-list does not cover: a load balancer's liveness probe must reach the process
UNGATED = {"/healthz"}

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
}


def create_app(
    catalog: Catalog | None = None,
    settings: PortalSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    st = PortalState(catalog or Catalog.open(), settings or PortalSettings(), clock=clock)
    app = FastAPI(
        title="recflow portal",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the pages are not an API; /api/v1/openapi.json documents the API
    )
    app.state.portal = st
    api_app = api.create_api(st)
    declare_bearer_auth(api_app)
    drop_swagger_ui(api_app)
    app.state.api = api_app
    app.add_middleware(BodyGuard, state=st)  # innermost of the three

    @app.middleware("http")
    async def gate(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        # already the real client when a trusted proxy forwarded it (ProxyHeadersMiddleware)
        ip = request.client.host if request.client else ""
        request.state.client_ip = ip
        path = request.url.path
        if path not in UNGATED and not allowed(ip, st.allow_list()):
            response: Response = _refuse_ip(path)
        else:
            response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        new_csrf = getattr(request.state, "new_csrf", None)
        if new_csrf:
            response.set_cookie(
                CSRF_COOKIE,
                new_csrf,
                httponly=True,
                samesite="lax",
                secure=st.settings.cookie_secure,
                path="/",
            )
        route = request.scope.get("route")
        label = getattr(route, "path", None) or "unmatched"
        if path.startswith("/api/v1") and label != "unmatched":
            label = "/api/v1" + label
        st.metrics.requests.labels(request.method, label, str(response.status_code)).inc()
        st.metrics.latency.labels(label).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if exc.stage == "password":
            return RedirectResponse("/login/2fa", 303)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)

    @app.exception_handler(PasswordChangeRequired)
    async def _password(request: Request, exc: PasswordChangeRequired) -> Response:
        return RedirectResponse("/me", 303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _page_error(request, 403, "Your role does not allow this page.")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            # e.g. a path the API mount's pattern cannot match (a newline in an id)
            return JSONResponse(
                {
                    "error": "not_found" if exc.status_code == 404 else "error",
                    "reason": str(exc.detail),
                },
                exc.status_code,
            )
        return _page_error(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        # the catalog answering is what "healthy" means for the portal
        st.catalog.count_by_status()
        return PlainTextResponse("ok")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(st.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        from portal.deps import page_user

        page_user(request)  # raises LoginRequired → /login
        return RedirectResponse("/recordings", 303)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/api/v1", api_app)
    for module in (
        auth_pages,
        sso_pages,
        account_pages,
        workspace_pages,  # before recording_pages: /recordings/export is not a recording id
        recording_pages,
        admin_pages,
        quality_pages,
        announcement_pages,
        people_pages,
        sftp_pages,
        hold_pages,
    ):
        app.include_router(module.router)
    if st.settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(st.settings.trusted_proxies))
    return app


def _refuse_ip(path: str) -> Response:
    reason = "your address is not on this account's IP allow-list"
    if path.startswith("/api/"):
        return JSONResponse({"error": "forbidden", "reason": reason}, 403)
    return HTMLResponse(
        f"<!doctype html><title>403</title><h1>403 Forbidden</h1><p>{reason}</p>", 403
    )


def _page_error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    st = state_of(request)
    return st.templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "message": message,
            "user": getattr(request.state, "user", None),
            "csrf": csrf_token(request),
        },
        status_code=status,
        headers=headers,
    )
