"""Single sign-on routes: ``/login/sso`` sends the browser to the OpenID provider, and
``/login/sso/callback`` is where it comes back. The flow lives in services.sso; this is the HTTP
shell (cookies, redirects, the login page on failure). Both routes pass the portal's gate, so
the account's IP allow-list applies to them as to every page."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from portal.auth_pages import login_page, safe_next, set_session_cookie
from portal.deps import client_ip, state_of
from services import sso, sso_settings
from services.sso_settings import OidcSettings

router = APIRouter()
FLOW_COOKIE = "rf_sso"
FLOW_PATH = "/login/sso"  # the cookie goes to the two routes below only


def _settings(request: Request) -> OidcSettings:
    try:
        settings = sso_settings.load(state_of(request).catalog)
    except sso_settings.SsoSettingsError as e:
        raise HTTPException(503, str(e)) from None
    if settings is None:
        raise HTTPException(404, "single sign-on is not configured")
    return settings


def _failed(request: Request, e: sso.SsoError, target: str, status: int) -> Response:
    state_of(request).metrics.logins.labels(f"sso_{e.code}").inc()
    response = login_page(request, target, sso_error=e.message, status=status)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


@router.get("/login/sso")
def sso_start(request: Request, next: str | None = None) -> Response:
    st = state_of(request)
    settings = _settings(request)
    target = safe_next(next)
    redirect_uri = settings.redirect_uri or str(request.url_for("sso_callback"))
    try:
        url, flow = sso.begin(st.catalog, settings, redirect_uri, target, st.clock())
    except sso.SsoError as e:
        return _failed(request, e, target, 502)
    response = RedirectResponse(url, 303)
    response.set_cookie(
        FLOW_COOKIE,
        flow,
        max_age=sso.FLOW_SECONDS,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: the cookie comes along
        secure=st.settings.cookie_secure,
        path=FLOW_PATH,
    )
    return response


@router.get("/login/sso/callback", name="sso_callback")
def sso_callback(request: Request) -> Response:
    st = state_of(request)
    settings = _settings(request)
    params = {k: v[:4096] for k, v in request.query_params.items()}
    ip = client_ip(request)
    now = st.clock()
    try:
        done = sso.finish(
            st.catalog,
            settings,
            request.cookies.get(FLOW_COOKIE),
            params,
            client_ip=ip,
            now=now,
        )
    except sso.SsoError as e:
        status = 502 if e.code in ("provider_unreachable", "provider_misconfigured") else 401
        return _failed(request, e, "/recordings", status)
    st.metrics.logins.labels("ok").inc()
    raw = st.sessions.create(done.user.id, "full", ip, now)
    response = RedirectResponse(safe_next(done.next_path), 303)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    set_session_cookie(response, st, raw)
    return response
