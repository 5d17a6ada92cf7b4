"""/api/v1/users: user management over the REST API (issue 16). The rules live in
services.people; this is the HTTP shape only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from portal.deps import ApiCaller, Principal, RowIdPath, client_ip, state_of
from services.people import DirectoryAdmin, People, PeopleError


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    role: str = Field("user", description="admin | group_admin | supervisor | user")
    groups: list[str] = Field(default_factory=list)
    numbers: list[str] = Field(default_factory=list, description="Own numbers/extensions")
    sso_only: bool = Field(False, description="Signs in through single sign-on only")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str | None = None
    disabled: bool | None = None
    groups: list[str] | None = None
    numbers: list[str] | None = None
    must_change_password: bool | None = None
    language: str | None = Field(None, max_length=16)
    sso_only: bool | None = Field(
        None, description="Signs in through single sign-on only (the password form refuses it)"
    )


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
            body.email, body.role, groups=body.groups, numbers=body.numbers, sso_only=body.sso_only
        )
    except PeopleError as e:
        raise _fail(e) from None
    return {
        **made.user.as_dict(),
        "initial_password": made.password,
        "otpauth_uri": made.otpauth_uri,
    }


@router.get("/users/{user_id}")
def get_user(request: Request, user_id: str, caller: ApiCaller) -> dict[str, Any]:
    try:
        return _people(request, caller).get(user_id).as_dict()
    except PeopleError as e:
        raise _fail(e) from None


@router.patch("/users/{user_id}")
def update_user(
    request: Request, user_id: str, body: UserPatch, caller: ApiCaller
) -> dict[str, Any]:
    """Change role, groups, numbers, language, "SSO only"; disable (sessions and the user's API
    tokens stop at once) or enable; force a password change."""
    try:
        return (
            _people(request, caller)
            .update(user_id, **body.model_dump(exclude_unset=True))
            .as_dict()
        )
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
        return {
            "password": _people(request, caller).reset_password(user_id),
            "must_change_password": True,
        }
    except PeopleError as e:
        raise _fail(e) from None


# ---------------------------------------------------------------- groups and devices


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=128)
    parent: str | None = Field(None, max_length=128)
    language: str = Field("", max_length=16)


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(max_length=64)
    user: str | None = Field(None, max_length=320, description="Owner's e-mail; none = no user")
    name: str = Field("", max_length=255)
    sip_uri: str = Field("", max_length=255)


def _dir(request: Request, caller: Principal) -> DirectoryAdmin:
    return DirectoryAdmin(
        state_of(request).catalog, caller.user, initiator=caller.name, ip=client_ip(request)
    )


@router.get("/groups", tags=["directory"])
def list_groups(request: Request, caller: ApiCaller) -> dict[str, Any]:
    try:
        return {"items": _dir(request, caller).groups()}
    except PeopleError as e:
        raise _fail(e) from None


@router.put("/groups", tags=["directory"])
def save_group(request: Request, body: GroupIn, caller: ApiCaller) -> dict[str, Any]:
    """Create or update a group (one level of nesting: a parent must be top-level)."""
    try:
        changed = _dir(request, caller).save_group(body.name, body.parent, body.language)
    except PeopleError as e:
        raise _fail(e) from None
    return {"name": body.name, "changed": changed}


@router.delete("/groups/{name}", status_code=204, tags=["directory"])
def delete_group(request: Request, name: str, caller: ApiCaller) -> None:
    try:
        _dir(request, caller).delete_group(name)
    except PeopleError as e:
        raise _fail(e) from None


@router.get("/devices", tags=["directory"])
def list_devices(request: Request, caller: ApiCaller) -> dict[str, Any]:
    try:
        return {"items": _dir(request, caller).devices()}
    except PeopleError as e:
        raise _fail(e) from None


@router.put("/devices", tags=["directory"])
def save_device(request: Request, body: DeviceIn, caller: ApiCaller) -> dict[str, Any]:
    """Create or update a device/extension; the recorder uses it for the next call."""
    try:
        changed = _dir(request, caller).save_device(body.number, body.user, body.name, body.sip_uri)
    except PeopleError as e:
        raise _fail(e) from None
    return {"number": body.number.strip(), "changed": changed}


@router.delete("/devices/{number}", status_code=204, tags=["directory"])
def delete_device(request: Request, number: str, caller: ApiCaller) -> None:
    try:
        _dir(request, caller).delete_device(number)
    except PeopleError as e:
        raise _fail(e) from None


# ---------------------------------------------------------------- on-demand start/stop


def _may_control(caller: Principal) -> None:
    # the account (a server-made token) and administrators; the recorder carries it out
    if caller.user is not None and not caller.user.is_admin:
        raise HTTPException(403, "only administrators start or stop recordings")


def _queue(request: Request, caller: Principal, call_id: str, action: str) -> dict[str, Any]:
    from catalog.directory import request_call_command

    _may_control(caller)
    st = state_of(request)
    cid = request_call_command(st.catalog, call_id, action, caller.name)
    st.audit.record(
        f"call.record_{action}",
        initiator=caller.name,
        client_ip=client_ip(request),
        resource=f"call:{call_id}",
    )
    return {
        "command_id": cid,
        "call_id": call_id,
        "action": action,
        "status": "queued",
        "status_url": f"/api/v1/call-commands/{cid}",
    }


@router.post("/calls/{call_id}/record", status_code=202, tags=["calls"])
def start_recording(request: Request, call_id: str, caller: ApiCaller) -> dict[str, Any]:
    """Start recording a live on-demand call (SIP Call-ID). The recorder carries it out within
    a second; the kept part is marked ``policy.started_by: api``."""
    return _queue(request, caller, call_id[:255], "start")


@router.delete("/calls/{call_id}/record", status_code=202, tags=["calls"])
def stop_recording(request: Request, call_id: str, caller: ApiCaller) -> dict[str, Any]:
    """Stop (pause) recording a live on-demand call; a later start resumes it."""
    return _queue(request, caller, call_id[:255], "stop")


@router.get("/call-commands/{command_id}", tags=["calls"])
def command_status(request: Request, command_id: RowIdPath, caller: ApiCaller) -> dict[str, Any]:
    """``done`` and ``outcome``: applied, no_such_call (not live on the recorder) or
    not_on_demand (the policy records or skips that call; it cannot be started or stopped)."""
    from catalog.directory import call_command

    _may_control(caller)
    found = call_command(state_of(request).catalog, command_id)
    if found is None:
        raise HTTPException(404, "no such command")
    return found
