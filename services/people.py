"""User management (issue 16): create, list, change role and groups, disable/enable, reset 2FA,
reset and force-change passwords -- with the authorisation rules in one place, for the REST
API and the portal pages alike.

Who may do what:
  * an administrator (or an account API token made on the server, ``actor=None``): everything;
  * a group admin: users in their groups (and subgroups) only; may give the roles ``user`` and
    ``supervisor`` and only groups within their scope;
  * everyone else: only themselves (own password, own recovery codes).
Nobody disables, demotes or deletes themselves, and the last enabled administrator stays one.
Every change is audited with field-level old/new values (no secrets).
"""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from catalog.audit import Audit, FieldChange
from catalog.directory import Directory, DirectoryError
from catalog.repository import Catalog
from catalog.users import Role, Sessions, User, UserError, Users
from services.visibility import manageable_user_ids


class PeopleError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class UserView:
    id: str
    email: str
    role: str
    groups: list[str]
    numbers: list[str]
    disabled: bool
    totp_enrolled: bool
    must_change_password: bool
    language: str
    created_at: datetime
    last_login_at: datetime | None
    sso_only: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "groups": self.groups,
            "numbers": self.numbers,
            "disabled": self.disabled,
            "totp_enrolled": self.totp_enrolled,
            "must_change_password": self.must_change_password,
            "language": self.language,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
            "sso_only": self.sso_only,
        }


@dataclass
class Created:
    user: UserView
    password: str  # shown once
    otpauth_uri: str  # shown once
    extra: dict[str, str] = field(default_factory=dict)


class People:
    def __init__(
        self, catalog: Catalog, actor: User | None, *, initiator: str = "", ip: str = ""
    ) -> None:
        """``actor`` None = the account itself (a server-made API token, the CLI)."""
        self.catalog = catalog
        self.actor = actor
        self.users = Users(catalog)
        self.directory = Directory(catalog)
        self.audit = Audit(catalog)
        self.initiator = initiator or (actor.email if actor else "account")
        self.ip = ip

    # ------------------------------------------------------------ authorisation

    @property
    def is_admin(self) -> bool:
        return self.actor is None or self.actor.role is Role.admin

    def _scope(self) -> frozenset[str] | None:
        if self.actor is None:
            return None
        return manageable_user_ids(self.catalog, self.actor)

    def _require_manager(self) -> None:
        if not self.is_admin and (self.actor is None or self.actor.role is not Role.group_admin):
            raise PeopleError(403, "only administrators and group admins manage users")

    def _target(self, user_id: str) -> User:
        user = self.users.get(user_id) or self.users.by_email(user_id)
        scope = self._scope()
        if user is None or (scope is not None and user.id not in scope):
            # 404, not 403: a group admin does not learn who exists outside their groups
            raise PeopleError(404, "no such user")
        return user

    def _check_role(self, role: Role) -> None:
        if not self.is_admin and role not in (Role.user, Role.supervisor):
            raise PeopleError(403, "group admins may give the roles user and supervisor only")

    def _check_groups(self, groups: list[str]) -> None:
        known = {g.name: g for g in self.directory.groups()}
        missing = sorted(set(groups) - set(known))
        if missing:
            raise PeopleError(400, f"no such group: {', '.join(missing)}")
        if self.is_admin:
            return
        assert self.actor is not None
        allowed = self.directory.scope_of(self.actor.id).group_ids
        outside = sorted(g for g in groups if known[g].id not in allowed)
        if outside or not groups:
            raise PeopleError(
                403, f"group admins place users in their own groups only ({', '.join(outside)})"
            )

    def _enabled_admins(self) -> int:
        return sum(1 for u in self.users.list() if u.role is Role.admin and not u.disabled)

    # ------------------------------------------------------------ views

    def view(self, user: User) -> UserView:
        s = self.directory.user_settings(user.id)
        return UserView(
            user.id,
            user.email,
            user.role.value,
            self.directory.groups_of(user.id),
            list(user.numbers),
            user.disabled,
            user.totp_enrolled,
            s.must_change_password,
            s.language,
            user.created_at,
            user.last_login_at,
            user.sso_only,
        )

    def list(self) -> list[UserView]:
        self._require_manager()
        scope = self._scope()
        return [self.view(u) for u in self.users.list() if scope is None or u.id in scope]

    def get(self, user_id: str) -> UserView:
        if self.actor is not None and user_id in (self.actor.id, self.actor.email):
            return self.view(self.actor)
        self._require_manager()
        return self.view(self._target(user_id))

    # ------------------------------------------------------------ changes

    def create(
        self,
        email: str,
        role: Role | str = Role.user,
        *,
        groups: builtins.list[str] | None = None,
        numbers: builtins.list[str] | None = None,
        sso_only: bool = False,
    ) -> Created:
        self._require_manager()
        try:
            role = Role(role)
        except ValueError:
            raise PeopleError(
                400, f"unknown role {role!r} (admin, group_admin, supervisor, user)"
            ) from None
        self._check_role(role)
        self._check_groups(groups or [])
        try:
            new = self.users.create(email, role, numbers=numbers or [], sso_only=sso_only)
        except UserError as e:
            raise PeopleError(409 if "exists" in str(e) else 400, str(e)) from None
        self.directory.set_user_groups(new.user.id, groups or [])
        self.directory.set_user_settings(new.user.id, must_change_password=True)
        self.audit.record(
            "user.create",
            initiator=self.initiator,
            client_ip=self.ip,
            resource=f"user:{new.user.email}",
            changes=[
                FieldChange(field="role", new=role.value),
                FieldChange(field="groups", new=groups or []),
                *([FieldChange(field="sso_only", new=True)] if sso_only else []),
            ],
        )
        return Created(self.view(new.user), new.password, new.otpauth_uri)

    def update(
        self,
        user_id: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        groups: builtins.list[str] | None = None,
        numbers: builtins.list[str] | None = None,
        must_change_password: bool | None = None,
        language: str | None = None,
        sso_only: bool | None = None,
    ) -> UserView:
        self._require_manager()
        user = self._target(user_id)
        before = self.view(user)
        changes: list[FieldChange] = []
        values: dict[str, object] = {}
        me = self.actor is not None and self.actor.id == user.id
        if role is not None:
            try:
                new_role = Role(role)
            except ValueError:
                raise PeopleError(400, f"unknown role {role!r}") from None
            self._check_role(new_role)
            if new_role != user.role:
                if me:
                    raise PeopleError(403, "you cannot change your own role")
                if user.role is Role.admin and self._enabled_admins() <= 1:
                    raise PeopleError(409, "the last administrator keeps the admin role")
                values["role"] = new_role.value
        if disabled is not None and disabled != user.disabled:
            if me and disabled:
                raise PeopleError(403, "you cannot disable yourself")
            if disabled and user.role is Role.admin and self._enabled_admins() <= 1:
                raise PeopleError(409, "the last enabled administrator cannot be disabled")
            values["disabled"] = disabled
        if sso_only is not None and sso_only != user.sso_only:
            if me and sso_only:
                # one's own password is the way back in when the provider is down
                raise PeopleError(403, "you cannot make your own account SSO only")
            values["sso_only"] = sso_only
        if numbers is not None and numbers != user.numbers:
            values["numbers"] = [n.strip() for n in numbers if n.strip()]
        if groups is not None:
            self._check_groups(groups)
        if values:
            self.users.update(user.id, **values)
        if groups is not None:
            try:
                self.directory.set_user_groups(user.id, groups)
            except DirectoryError as e:
                raise PeopleError(400, str(e)) from None
        if must_change_password is not None or language is not None:
            self.directory.set_user_settings(
                user.id, must_change_password=must_change_password, language=language
            )
        if values.get("disabled") is True:
            Sessions(self.catalog).delete_for_user(user.id)  # page sessions end at once
        after = self.view(self.users.get(user.id) or user)
        for name in (
            "role",
            "disabled",
            "sso_only",
            "groups",
            "numbers",
            "must_change_password",
            "language",
        ):
            old, new = getattr(before, name), getattr(after, name)
            if old != new:
                changes.append(FieldChange(field=name, old=old, new=new))
        if changes:
            self.audit.record(
                "user.update",
                initiator=self.initiator,
                client_ip=self.ip,
                resource=f"user:{user.email}",
                changes=changes,
            )
        return after

    def reset_2fa(self, user_id: str) -> str:
        """New TOTP secret (enrolled again at next login); sessions end. Returns the URI."""
        self._require_manager()
        user = self._target(user_id)
        uri = self.users.reset_totp(user.id)
        Sessions(self.catalog).delete_for_user(user.id)
        self.audit.record(
            "user.reset_2fa",
            initiator=self.initiator,
            client_ip=self.ip,
            resource=f"user:{user.email}",
        )
        return uri

    def reset_password(self, user_id: str) -> str:
        """A new random password (shown once) that must be changed at the next login."""
        self._require_manager()
        user = self._target(user_id)
        password = secrets.token_urlsafe(15)
        self.users.set_password(user.id, password)
        self.directory.set_user_settings(user.id, must_change_password=True)
        Sessions(self.catalog).delete_for_user(user.id)
        self.audit.record(
            "user.reset_password",
            initiator=self.initiator,
            client_ip=self.ip,
            resource=f"user:{user.email}",
        )
        return password


class DirectoryAdmin(People):
    """Groups and devices over the API (the portal edits them as config sections). Groups:
    administrators only. Devices: administrators, and group admins for devices owned by the
    users they manage."""

    def groups(self) -> list[dict[str, object]]:
        self._require_manager()
        emails = {u.id: u.email for u in self.users.list()}
        scope = None if self.is_admin else self.directory.scope_of(self.actor.id).group_ids  # type: ignore[union-attr]
        return [
            {
                "id": g.id,
                "name": g.name,
                "parent": g.parent,
                "language": g.language,
                "members": sorted(emails[m] for m in g.members if m in emails),
            }
            for g in self.directory.groups()
            if scope is None or g.id in scope
        ]

    def save_group(self, name: str, parent: str | None = None, language: str = "") -> bool:
        if not self.is_admin:
            raise PeopleError(403, "only administrators change groups")
        try:
            changed = self.directory.upsert_group(name, parent=parent, language=language)
        except DirectoryError as e:
            raise PeopleError(400, str(e)) from None
        if changed:
            self.audit.record(
                "group.save",
                initiator=self.initiator,
                client_ip=self.ip,
                resource=f"group:{name}",
                changes=[
                    FieldChange(field="parent", new=parent),
                    FieldChange(field="language", new=language),
                ],
            )
        return changed

    def delete_group(self, name: str) -> None:
        if not self.is_admin:
            raise PeopleError(403, "only administrators change groups")
        try:
            if not self.directory.delete_group(name):
                raise PeopleError(404, "no such group")
        except DirectoryError as e:
            raise PeopleError(409, str(e)) from None
        self.audit.record(
            "group.delete", initiator=self.initiator, client_ip=self.ip, resource=f"group:{name}"
        )

    def _device_allowed(self, owner_id: str | None) -> bool:
        scope = self._scope()
        return scope is None or (owner_id is not None and owner_id in scope)

    def devices(self) -> list[dict[str, object]]:
        self._require_manager()
        return [
            {"number": d.number, "user": d.user_email, "name": d.name, "sip_uri": d.sip_uri}
            for d in self.directory.devices()
            if self._device_allowed(d.user_id)
        ]

    def save_device(
        self, number: str, user: str | None = None, name: str = "", sip_uri: str = ""
    ) -> bool:
        self._require_manager()
        owner = self.users.by_email(user) if user else None
        if user and owner is None:
            raise PeopleError(400, f"no user {user}")
        current = next((d for d in self.directory.devices() if d.number == number.strip()), None)
        if not self._device_allowed(owner.id if owner else None) or (
            current is not None and not self._device_allowed(current.user_id)
        ):
            raise PeopleError(403, "group admins manage the devices of their groups' users only")
        try:
            changed = self.directory.upsert_device(
                number, user_email=user, name=name, sip_uri=sip_uri
            )
        except DirectoryError as e:
            raise PeopleError(400, str(e)) from None
        if changed:
            self.audit.record(
                "device.save",
                initiator=self.initiator,
                client_ip=self.ip,
                resource=f"device:{number.strip()}",
                changes=[
                    FieldChange(field="user", old=current.user_email if current else None, new=user)
                ],
            )
        return changed

    def delete_device(self, number: str) -> None:
        self._require_manager()
        current = next((d for d in self.directory.devices() if d.number == number.strip()), None)
        if current is None or not self._device_allowed(current.user_id):
            raise PeopleError(404, "no such device")
        self.directory.delete_device(number)
        self.audit.record(
            "device.delete",
            initiator=self.initiator,
            client_ip=self.ip,
            resource=f"device:{number}",
        )


def change_own_password(
    catalog: Catalog, user: User, current: str, new: str, *, ip: str = ""
) -> None:
    """Every user changes their own password (the forced change after a reset, too)."""
    from datetime import UTC
    from datetime import datetime as dt

    users = Users(catalog)
    if user.sso_only:
        raise PeopleError(
            400, "this account signs in with single sign-on only; it has no password to change"
        )
    if not users.authenticate(user.email, current, dt.now(UTC)).ok:
        raise PeopleError(400, "the current password is wrong")
    if new == current:
        raise PeopleError(400, "choose a password different from the current one")
    try:
        users.set_password(user.id, new)
    except UserError as e:
        raise PeopleError(400, str(e)) from None
    Directory(catalog).set_user_settings(user.id, must_change_password=False)
    Audit(catalog).record(
        "user.password", initiator=user.email, client_ip=ip, resource=f"user:{user.email}"
    )


def language_settings(catalog: Catalog, user: User) -> tuple[str, list[str]]:
    """(the user's own language, the languages of their groups) for the portal's choice."""
    d = Directory(catalog)
    own = d.user_settings(user.id).language
    mine = set(d.groups_of(user.id))
    return own, [g.language for g in d.groups() if g.name in mine and g.language]
