"""Request dependencies: who is asking (a page session or an API token), what they may see,
and CSRF verification of every unsafe page request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from catalog.portal_queries import Visibility
from catalog.users import ApiToken, Role, User
from portal.state import PortalState

SESSION_COOKIE = "rf_session"
CSRF_COOKIE = "rf_csrf"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(Exception):
    """No full session: pages redirect to /login (see app.py's handler)."""

    def __init__(self, stage: str | None = None) -> None:
        self.stage = stage


class PasswordChangeRequired(Exception):
    """A password reset by an administrator (or a new user): every page but /me and /logout
    redirects to /me until the user picked their own password."""


# where a user who must change their password may still go
PASSWORD_CHANGE_PATHS = ("/me", "/me/password", "/logout")


class Forbidden(Exception):
    """Logged in, but the role does not allow this page."""


def state_of(request: Request) -> PortalState:
    return request.app.state.portal  # type: ignore[no-any-return]


StateDep = Annotated[PortalState, Depends(state_of)]

# A database row id in a path or query: bounded so that a huge number is a 422, not an overflow
# in the SQL driver (SQLite and PostgreSQL integers are 64-bit).
MAX_ROW_ID = 2**63 - 1
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def client_ip(request: Request) -> str:
    return getattr(request.state, "client_ip", request.client.host if request.client else "")


@dataclass(frozen=True)
class Principal:
    """The caller of one request: a logged-in user or an API token."""

    name: str
    user: User | None = None
    token: ApiToken | None = None
    scope: Visibility | None = None  # from services.visibility (directory groups and devices)

    @property
    def role(self) -> Role:
        return self.user.role if self.user else Role.supervisor

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin

    def visibility(self) -> Visibility:
        if self.scope is not None:
            return self.scope
        if self.token is not None:
            # an account-wide integration token sees every call except private ones: private
            # calls are for their owner and super users only (product.md)
            return Visibility(everything=True)
        assert self.user is not None
        u = self.user
        own = frozenset(u.numbers)
        if u.role is Role.admin:
            return Visibility(everything=True, private_all=True)
        if u.role is Role.supervisor:
            return Visibility(numbers=own | frozenset(u.group_numbers), own_numbers=own)
        return Visibility(numbers=own, own_numbers=own)


def session_of(request: Request):  # type: ignore[no-untyped-def]
    """The server-side session named by the signed cookie, or None."""
    st = state_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    raw = st.signer.unsign_session(cookie, st.session_max_age_seconds)
    if raw is None:
        return None
    return st.sessions.get(raw, st.clock())


def page_user(request: Request) -> User:
    st = state_of(request)
    sess = session_of(request)
    if sess is None:
        raise LoginRequired()
    if sess.stage != "full":
        raise LoginRequired(stage=sess.stage)
    user = st.users.get(sess.user_id)
    if user is None or user.disabled or st.users.is_locked(user.id, st.clock()):
        st.sessions.delete(sess.raw_id)
        raise LoginRequired()
    request.state.user = user
    if request.url.path not in PASSWORD_CHANGE_PATHS:
        from catalog.directory import Directory

        if Directory(st.catalog).user_settings(user.id).must_change_password:
            raise PasswordChangeRequired()
    return user


CurrentUser = Annotated[User, Depends(page_user)]


def require_role(minimum: Role):  # type: ignore[no-untyped-def]
    def check(user: CurrentUser) -> User:
        if user.role.rank < minimum.rank:
            raise Forbidden()
        return user

    return check


AdminUser = Annotated[User, Depends(require_role(Role.admin))]
StaffUser = Annotated[User, Depends(require_role(Role.supervisor))]


def csrf_cookie_value(request: Request) -> str:
    """This browser's CSRF cookie; a new one is minted (and set by the middleware) if absent."""
    value = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not value:
        value = secrets.token_urlsafe(24)
        request.state.new_csrf = value
    return value


def csrf_token(request: Request) -> str:
    return state_of(request).signer.csrf_token(csrf_cookie_value(request))


async def csrf_protect(request: Request) -> None:
    """Every unsafe page request carries the token in the form (``csrf``) or, for the few
    fetch() calls, in ``X-CSRF-Token``. The API does not need it: it takes no cookies."""
    if request.method not in UNSAFE:
        return
    token = request.headers.get("x-csrf-token")
    if token is None:
        form = await request.form()
        value = form.get("csrf")
        token = value if isinstance(value, str) else None
    if not state_of(request).signer.csrf_ok(request.cookies.get(CSRF_COOKIE), token):
        raise HTTPException(403, "CSRF token missing or wrong; reload the page and try again")


def api_principal(request: Request) -> Principal:
    st = state_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HTTPException(
            401, "missing bearer token", headers={"WWW-Authenticate": 'Bearer realm="recflow"'}
        )
    # BodyGuard verified it already when the request carries a body
    token = getattr(request.state, "api_token", None) or st.tokens.verify(value.strip(), st.clock())
    if token is None:
        raise HTTPException(
            401,
            "invalid or revoked token",
            headers={"WWW-Authenticate": 'Bearer realm="recflow", error="invalid_token"'},
        )
    from services.visibility import token_owner, visibility_for

    owner = token_owner(st.catalog, token)
    if owner is not None and (owner.disabled or st.users.is_locked(owner.id, st.clock())):
        # a disabled user's tokens stop at once (and work again if the user is re-enabled)
        raise HTTPException(
            401,
            "the token's owner is disabled",
            headers={"WWW-Authenticate": 'Bearer realm="recflow", error="invalid_token"'},
        )
    return Principal(
        name=f"token:{token.name}",
        user=owner,
        token=token,
        scope=visibility_for(st.catalog, None, token=token),
    )


ApiCaller = Annotated[Principal, Depends(api_principal)]


def page_principal(st: PortalState, user: User) -> Principal:
    """A logged-in user on a page, scoped by role and groups like the API."""
    from services.visibility import visibility_for

    return Principal(name=user.email, user=user, scope=visibility_for(st.catalog, user))
