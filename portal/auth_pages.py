"""Login: password, then TOTP (enrolled at first login with a QR code and the manual secret),
or a one-time recovery code; logout. Every attempt is audited."""

from __future__ import annotations

import base64
import io
from typing import Any
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from catalog.users import User
from portal.deps import SESSION_COOKIE, client_ip, csrf_protect, csrf_token, session_of, state_of
from portal.state import PortalState

router = APIRouter(dependencies=[Depends(csrf_protect)])
GENERIC_FAILURE = "Wrong e-mail or password, or the account is locked. Try again later."


def safe_next(target: str | None) -> str:
    """Only local paths: an attacker's ?next=https://evil must not turn login into a redirector."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/recordings"
    return target


def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    from portal import i18n
    from services.people import language_settings

    st = state_of(request)
    user = getattr(request.state, "user", None)
    lang, asked = i18n.negotiate(request, user, lambda u: language_settings(st.catalog, u))
    i18n.activate(lang)  # the template renders inside TemplateResponse(), in this context
    base = {"csrf": csrf_token(request), "user": user, "lang": lang, "languages": i18n.LANGUAGES}
    response = st.templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)
    if asked:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


def set_session_cookie(response: Response, st: PortalState, raw: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        st.signer.sign_session(raw),
        max_age=int(st.session_max_age_seconds),
        httponly=True,
        samesite="lax",
        secure=st.settings.cookie_secure,
        path="/",
    )


def qr_data_uri(text: str) -> str:
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buf = io.BytesIO()
    img.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def login_page(
    request: Request,
    target: str,
    *,
    error: str | None = None,
    sso_error: str | None = None,
    sso_only: bool = False,
    status: int = 200,
) -> Response:
    """The login form; with the single sign-on button when ``oidc:`` is configured."""
    from services.sso_settings import button_label

    ctx = {
        "next": target,
        "error": error,
        "sso_label": button_label(state_of(request).catalog),  # None: no button
        "sso_error": sso_error,
        "sso_only": sso_only,
    }
    return render(request, "login.html", ctx, status)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return login_page(request, safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    st = state_of(request)
    form = await request.form()
    email = str(form.get("email", ""))[:320]
    password = str(form.get("password", ""))[:1024]
    target = safe_next(str(form.get("next", "")))
    ip = client_ip(request)
    now = st.clock()
    result = st.users.authenticate(email, password, now)
    if not result.ok:
        st.metrics.logins.labels(result.reason).inc()
        st.audit.record(
            "login_failed",
            initiator=email.strip().lower() or "(empty)",
            client_ip=ip,
            resource="portal",
            outcome="denied",
            detail=result.reason,
            at=now,
        )
        if result.reason == "sso_only":  # the password was right: say what to do instead
            return login_page(request, target, sso_only=True, status=401)
        return login_page(request, target, error=GENERIC_FAILURE, status=401)
    assert result.user is not None
    raw = st.sessions.create(result.user.id, "password", ip, now)
    response = RedirectResponse(f"/login/2fa?next={quote(target, safe='/')}", 303)
    set_session_cookie(response, st, raw)
    return response


def _pending(request: Request) -> tuple[Any, User] | None:
    sess = session_of(request)
    if sess is None or sess.stage != "password":
        return None
    user = state_of(request).users.get(sess.user_id)
    return (sess, user) if user else None


def _twofa_page(
    request: Request, user: User, target: str, error: str | None, status: int = 200
) -> Response:
    st = state_of(request)
    ctx: dict[str, Any] = {"next": target, "error": error, "enrol": not user.totp_enrolled}
    if not user.totp_enrolled:
        secret = st.users.totp_secret(user.id)
        uri = st.users.otpauth_uri(user, secret)
        # grouped in fours, as authenticator apps show it, for typing by hand
        ctx["secret"] = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        ctx["qr"] = qr_data_uri(uri)
    return render(request, "twofa.html", ctx, status)


@router.get("/login/2fa")
def twofa_form(request: Request, next: str | None = None) -> Response:
    pending = _pending(request)
    if pending is None:
        return RedirectResponse("/login", 303)
    return _twofa_page(request, pending[1], safe_next(next), None)


@router.post("/login/2fa")
async def twofa(request: Request) -> Response:
    st = state_of(request)
    pending = _pending(request)
    if pending is None:
        return RedirectResponse("/login", 303)
    sess, user = pending
    form = await request.form()
    target = safe_next(str(form.get("next", "")))
    code = str(form.get("code", ""))[:64]
    recovery = str(form.get("recovery", ""))[:64].strip()
    ip = client_ip(request)
    now = st.clock()
    if st.users.is_locked(user.id, now):
        st.sessions.delete(sess.raw_id)
        return RedirectResponse("/login", 303)
    method = "totp"
    if recovery and user.totp_enrolled:
        ok = st.users.use_recovery_code(user.id, recovery)
        method = "recovery_code"
    else:
        ok = st.users.verify_totp(user.id, code, now)
    if not ok:
        st.users.record_failure(user.id, now)
        st.metrics.logins.labels("bad_second_factor").inc()
        st.audit.record(
            "login_failed",
            initiator=user.email,
            client_ip=ip,
            resource="portal",
            outcome="denied",
            detail=f"wrong {method}",
            at=now,
        )
        if st.users.is_locked(user.id, now):
            st.sessions.delete(sess.raw_id)
            return login_page(request, target, error=GENERIC_FAILURE, status=401)
        return _twofa_page(request, user, target, "That code did not work. Try the next one.", 401)
    first = not user.totp_enrolled
    codes = st.users.finish_enrolment(user.id) if first else None
    st.users.record_success(user.id, now)
    new_raw = st.sessions.promote(sess.raw_id, ip, now)
    assert new_raw is not None
    st.metrics.logins.labels("ok").inc()
    st.audit.record(
        "login",
        initiator=user.email,
        client_ip=ip,
        resource="portal",
        detail=f"2fa={method}" + (" (enrolled)" if first else ""),
        at=now,
    )
    if codes:
        request.state.user = st.users.get(user.id)
        response = render(request, "recovery_codes.html", {"codes": codes, "next": target})
    else:
        response = RedirectResponse(target, 303)
    set_session_cookie(response, st, new_raw)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    st = state_of(request)
    sess = session_of(request)
    if sess is not None:
        st.sessions.delete(sess.raw_id)
        user = st.users.get(sess.user_id)
        st.audit.record(
            "logout",
            initiator=user.email if user else sess.user_id,
            client_ip=client_ip(request),
            resource="portal",
        )
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
