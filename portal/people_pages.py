"""People (issue 16): user management for administrators and group admins (list, create, edit
role/groups/numbers, disable/enable, reset 2FA and password, force a password change), and
"My account" for everyone (change password, regenerate recovery codes). The rules live in
services.people; these are the pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from catalog.directory import Directory
from catalog.users import Role
from portal.auth_pages import qr_data_uri, render
from portal.deps import CurrentUser, Forbidden, client_ip, csrf_protect, state_of
from services.people import People, PeopleError, change_own_password

router = APIRouter(dependencies=[Depends(csrf_protect)])
ROLES = [r.value for r in Role]


def _people(request: Request, user: Any) -> People:
    if user.role not in (Role.admin, Role.group_admin):
        raise Forbidden()
    return People(state_of(request).catalog, user, ip=client_ip(request))


def _lines(value: Any) -> list[str]:
    return [x.strip() for x in str(value or "").replace(",", "\n").splitlines() if x.strip()]


def _list_page(request: Request, user: Any, status: int = 200, **extra: Any) -> Response:
    people = _people(request, user)
    ctx = {
        "people": people.list(),
        "groups": Directory(people.catalog).groups(),
        "roles": ROLES if people.is_admin else ["user", "supervisor"],
        "notice": None,
        "error": None,
        **extra,
    }
    return render(request, "people.html", ctx, status)


@router.get("/people")
def people_list(request: Request, user: CurrentUser) -> Response:
    return _list_page(request, user)


@router.post("/people")
async def people_create(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    people = _people(request, user)
    try:
        made = people.create(
            str(form.get("email", ""))[:320],
            str(form.get("role", "user")),
            groups=[str(g) for g in form.getlist("groups")],
            numbers=_lines(form.get("numbers")),
        )
    except PeopleError as e:
        return _list_page(request, user, e.status, error=e.reason)
    return render(
        request,
        "person_secret.html",
        {
            "person": made.user,
            "password": made.password,
            "otpauth_uri": made.otpauth_uri,
            "qr": qr_data_uri(made.otpauth_uri),
        },
    )


def _person_page(
    request: Request, user: Any, user_id: str, status: int = 200, **extra: Any
) -> Response:
    people = _people(request, user)
    try:
        person = people.get(user_id)
    except PeopleError as e:
        raise HTTPException(e.status, e.reason) from None
    ctx = {
        "person": person,
        "groups": Directory(people.catalog).groups(),
        "roles": ROLES if people.is_admin else ["user", "supervisor"],
        "devices": Directory(people.catalog).devices(user_id=person.id),
        "notice": None,
        "error": None,
        **extra,
    }
    return render(request, "person.html", ctx, status)


@router.get("/people/{user_id}")
def person(request: Request, user_id: str, user: CurrentUser) -> Response:
    return _person_page(request, user, user_id)


@router.post("/people/{user_id}")
async def person_save(request: Request, user_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    people = _people(request, user)
    try:
        people.update(
            user_id,
            role=str(form.get("role", "")) or None,
            disabled=form.get("disabled") == "on",
            groups=[str(g) for g in form.getlist("groups")],
            numbers=_lines(form.get("numbers")),
            must_change_password=form.get("must_change_password") == "on",
            sso_only=form.get("sso_only") == "on",
        )
    except PeopleError as e:
        return _person_page(request, user, user_id, e.status, error=e.reason)
    return _person_page(request, user, user_id, notice="Saved.")


@router.post("/people/{user_id}/reset-2fa")
def person_reset_2fa(request: Request, user_id: str, user: CurrentUser) -> Response:
    try:
        _people(request, user).reset_2fa(user_id)
    except PeopleError as e:
        raise HTTPException(e.status, e.reason) from None
    return _person_page(
        request,
        user,
        user_id,
        notice="Two-factor authentication reset: enrolled again at the next login.",
    )


@router.post("/people/{user_id}/reset-password")
def person_reset_password(request: Request, user_id: str, user: CurrentUser) -> Response:
    try:
        password = _people(request, user).reset_password(user_id)
    except PeopleError as e:
        raise HTTPException(e.status, e.reason) from None
    return _person_page(request, user, user_id, one_time_password=password)


# ---------------------------------------------------------------- my account


def _me_page(request: Request, user: Any, status: int = 200, **extra: Any) -> Response:
    st = state_of(request)
    ctx = {
        "forced": Directory(st.catalog).user_settings(user.id).must_change_password,
        "codes_left": st.users.recovery_codes_left(user.id),
        "groups": Directory(st.catalog).groups_of(user.id),
        "own_language": Directory(st.catalog).user_settings(user.id).language,
        "notice": None,
        "error": None,
        **extra,
    }
    return render(request, "me.html", ctx, status)


@router.get("/me")
def me(request: Request, user: CurrentUser) -> Response:
    return _me_page(request, user)


@router.post("/me/password")
async def me_password(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    new, again = str(form.get("new", ""))[:1000], str(form.get("again", ""))[:1000]
    if new != again:
        return _me_page(request, user, 400, error="The two new passwords differ.")
    try:
        change_own_password(
            state_of(request).catalog,
            user,
            str(form.get("current", ""))[:1000],
            new,
            ip=client_ip(request),
        )
    except PeopleError as e:
        return _me_page(request, user, e.status, error=e.reason)
    return _me_page(request, user, notice="Password changed.")


@router.post("/me/language")
async def me_language(request: Request, user: CurrentUser) -> Response:
    from portal.i18n import COOKIE, LANGUAGES

    form = await request.form()
    lang = str(form.get("language", ""))
    if lang and lang not in LANGUAGES:
        return _me_page(request, user, 400, error=f"unknown language {lang[:20]!r}")
    Directory(state_of(request).catalog).set_user_settings(user.id, language=lang)
    response = _me_page(request, user)
    response.delete_cookie(COOKIE, path="/")  # the saved choice wins over a ?lang= cookie
    return response


@router.post("/me/recovery-codes")
async def me_recovery_codes(request: Request, user: CurrentUser) -> Response:
    """New recovery codes (the old ones stop working); asks for the password again."""
    st = state_of(request)
    form = await request.form()
    if not st.users.authenticate(user.email, str(form.get("current", ""))[:1000], st.clock()).ok:
        return _me_page(request, user, 400, error="The current password is wrong.")
    codes = st.users.new_recovery_codes(user.id)
    st.audit.record(
        "user.recovery_codes",
        initiator=user.email,
        client_ip=client_ip(request),
        resource=f"user:{user.email}",
    )
    return render(request, "recovery_codes.html", {"codes": codes, "next": "/me"})
