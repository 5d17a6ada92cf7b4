"""/api/v1/users: user management over the REST API (issue 16). The rules live in
services.people; this is the HTTP shape only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from portal.deps import ApiCaller, Principal, client_ip, state_of
from services.people import People, PeopleError


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    role: str = Field("user", description="admin | group_admin | supervisor | user")
    groups: list[str] = Field(default_factory=list)
    numbers: list[str] = Field(default_factory=list, description="Own numbers/extensions")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str | None = None
    disabled: bool | None = None
    groups: list[str] | None = None
    numbers: list[str] | None = None
    must_change_password: bool | None = None
    language: str | None = Field(None, max_length=16)


def _people(request: Request, caller: Principal) -> People:
    st = state_of(request)
    # a token made in the portal acts as its creator; one made on the server (CLI) as the account
    return People(st.catalog, caller.user, initiator=caller.name, ip=client_ip(request))


def _fail(e: PeopleError) -> HTTPException:
    return HTTPException(e.status, e.reason)


router = APIRouter(tags=["users"])


@router.get("/users")
def list_users(request: Request, caller: ApiCaller) -> dict[str, Any]:
    try:
        return {"items": [u.as_dict() for u in _people(request, caller).list()]}
    except PeopleError as e:
        raise _fail(e) from None


@router.post("/users", status_code=201)
def create_user(request: Request, body: UserCreate, caller: ApiCaller) -> dict[str, Any]:
    """Create a user. The initial password and the TOTP enrolment URI are returned once."""
    try:
        made = _people(request, caller).create(
            body.email, body.role, groups=body.groups, numbers=body.numbers
        )
    except PeopleError as e:
        raise _fail(e) from None
    return {**made.user.as_dict(), "initial_password": made.password, "otpauth_uri": made.otpauth_uri}


@router.get("/users/{user_id}")
def get_user(request: Request, user_id: str, caller: ApiCaller) -> dict[str, Any]:
    try:
        return _people(request, caller).get(user_id).as_dict()
    except PeopleError as e:
        raise _fail(e) from None


@router.patch("/users/{user_id}")
def update_user(request: Request, user_id: str, body: UserPatch, caller: ApiCaller) -> dict[str, Any]:
    """Change role, groups, numbers, language; disable (sessions and the user's API tokens stop
    at once) or enable; force a password change."""
    try:
        return _people(request, caller).update(user_id, **body.model_dump(exclude_unset=True)).as_dict()
    except PeopleError as e:
        raise _fail(e) from None


@router.post("/users/{user_id}/reset-2fa")
def reset_2fa(request: Request, user_id: str, caller: ApiCaller) -> dict[str, Any]:
    """A new TOTP secret; the user enrols again at the next login. The URI is returned once."""
    try:
        return {"otpauth_uri": _people(request, caller).reset_2fa(user_id)}
    except PeopleError as e:
        raise _fail(e) from None


@router.post("/users/{user_id}/reset-password")
def reset_password(request: Request, user_id: str, caller: ApiCaller) -> dict[str, Any]:
    """A new one-time password (returned once) that must be changed at the next login."""
    try:
        return {"password": _people(request, caller).reset_password(user_id), "must_change_password": True}
    except PeopleError as e:
        raise _fail(e) from None
