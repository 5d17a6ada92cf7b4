"""The `groups:`, `users:`, `devices:` and `recording_policy:` sections of the config file
(issue 16; see docs/recording-policy.md and docs/directory.md).

    groups:
      sales: {}
      sales-north: {parent: sales}
    users:
      ann@example.com: {role: user, groups: [sales-north]}
    devices:
      "1001": {user: ann@example.com, name: Ann's desk phone}
      "+447700900123": {}                      # a device with no user
    recording_policy:
      account: {inbound: {internal: off, external: on}, outbound: {…}}
      users: {ann@example.com: {outbound: {external: off}}}
      devices: {"1001": {inbound: {external: on}}}
      on_demand_code: "*95"

Passwords and TOTP secrets are never in the file: a user created here gets a random password
that nobody knows and must be given one by an administrator (portal or API reset). Users are
only created or updated, never deleted by a file (disable them instead); groups and devices
absent from the file are removed. The recorder picks up every change within a second.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from catalog.directory import Directory, DirectoryError
from catalog.recording_policy import RecordingPolicy, norm_number
from catalog.repository import Catalog
from catalog.users import Role, UserError, Users
from services.config.base import ApplyContext, ConfigFileError, validation_problems


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parent: str | None = None
    language: str = ""


class UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Role.user
    groups: list[str] = Field(default_factory=list)
    numbers: list[str] = Field(default_factory=list, description="Own numbers (besides devices)")
    disabled: bool = False
    language: str = ""

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, v: Any) -> Any:
        return {"super_admin": "admin", "super user": "admin", "superuser": "admin"}.get(v, v)


class DeviceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None = None
    name: str = ""
    sip_uri: str = ""


def _mapping(key: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigFileError([(key, "must be a mapping")])
    return {str(k): v for k, v in raw.items()}


def _parse_each(key: str, model: type[BaseModel], raw: Any) -> dict[str, Any]:
    out, problems = {}, []
    for name, value in _mapping(key, raw).items():
        try:
            out[name] = model.model_validate(value or {})
        except ValidationError as e:
            problems.extend(validation_problems(f"{key}.{name}", e))
    if problems:
        raise ConfigFileError(problems)
    return out


class GroupsSection:
    key = "groups"
    order = 6

    def validate(self, raw: Any, ctx: ApplyContext) -> dict[str, GroupSpec]:
        groups: dict[str, GroupSpec] = _parse_each(self.key, GroupSpec, raw)
        problems = []
        for name, g in groups.items():
            if g.parent is None:
                continue
            if g.parent not in groups:
                problems.append((f"groups.{name}.parent", f"no group {g.parent!r} in this file"))
            elif groups[g.parent].parent is not None:
                problems.append(
                    (f"groups.{name}.parent", f"{g.parent!r} is a subgroup (one level of nesting)")
                )
        if problems:
            raise ConfigFileError(problems)
        return groups

    def apply(self, parsed: dict[str, GroupSpec], ctx: ApplyContext) -> list[str]:
        d, changes = Directory(ctx.catalog), []
        # parents first, then subgroups; a group moving under a parent loses its own children
        # first (they are either re-parented by this file or removed below)
        for name, g in sorted(parsed.items(), key=lambda kv: kv[1].parent is not None):
            try:
                if d.upsert_group(name, parent=g.parent, language=g.language):
                    changes.append(f"groups: {name} saved")
            except DirectoryError as e:
                raise ConfigFileError([(f"groups.{name}", str(e))]) from None
        existing = d.groups()
        for old in sorted(existing, key=lambda x: x.parent is None):  # subgroups first
            if old.name not in parsed and d.delete_group(old.name):
                changes.append(f"groups: {old.name} removed")
        return changes

    def export(self, catalog: Catalog) -> Any | None:
        groups = Directory(catalog).groups()
        if not groups:
            return None
        return {
            g.name: {
                **({"parent": g.parent} if g.parent else {}),
                **({"language": g.language} if g.language else {}),
            }
            for g in groups
        }


class UsersSection:
    key = "users"
    order = 7  # after groups (users name them)

    def validate(self, raw: Any, ctx: ApplyContext) -> dict[str, UserSpec]:
        users: dict[str, UserSpec] = _parse_each(self.key, UserSpec, raw)
        known = set(_mapping("groups", ctx.document.get("groups"))) | {
            g.name for g in Directory(ctx.catalog).groups()
        }
        problems = []
        for email, u in users.items():
            if "@" not in email:
                problems.append((f"users.{email}", "keys are e-mail addresses"))
            for g in u.groups:
                if g not in known:
                    problems.append((f"users.{email}.groups", f"no group {g!r}"))
        if problems:
            raise ConfigFileError(problems)
        return {e.strip().lower(): u for e, u in users.items()}

    def apply(self, parsed: dict[str, UserSpec], ctx: ApplyContext) -> list[str]:
        users, d, changes = Users(ctx.catalog), Directory(ctx.catalog), []
        for email, spec in parsed.items():
            user = users.by_email(email)
            if user is None:
                try:
                    user = users.create(email, spec.role, numbers=spec.numbers).user
                except UserError as e:
                    raise ConfigFileError([(f"users.{email}", str(e))]) from None
                d.set_user_settings(user.id, must_change_password=True)
                changes.append(
                    f"users: {email} created ({spec.role.value}; no password yet: "
                    "an administrator resets it in the portal or the API)"
                )
            want = {"role": spec.role, "numbers": spec.numbers, "disabled": spec.disabled}
            have = {"role": user.role, "numbers": user.numbers, "disabled": user.disabled}
            if want != have:
                users.update(user.id, **want)
                changes.append(f"users: {email} updated")
            if d.set_user_groups(user.id, spec.groups):
                changes.append(f"users: {email} groups = {', '.join(spec.groups) or 'none'}")
            if d.user_settings(user.id).language != spec.language:
                d.set_user_settings(user.id, language=spec.language)
                changes.append(f"users: {email} language = {spec.language or 'default'}")
            if spec.disabled and not user.disabled:
                from catalog.users import Sessions

                Sessions(ctx.catalog).delete_for_user(user.id)
        return changes

    def export(self, catalog: Catalog) -> Any | None:
        d, out = Directory(catalog), {}
        for u in Users(catalog).list():
            item: dict[str, Any] = {"role": u.role.value}
            groups = d.groups_of(u.id)
            if groups:
                item["groups"] = groups
            if u.numbers:
                item["numbers"] = u.numbers
            if u.disabled:
                item["disabled"] = True
            lang = d.user_settings(u.id).language
            if lang:
                item["language"] = lang
            out[u.email] = item
        return out or None


class DevicesSection:
    key = "devices"
    order = 8  # after users (devices name their owner)

    def validate(self, raw: Any, ctx: ApplyContext) -> dict[str, DeviceSpec]:
        devices: dict[str, DeviceSpec] = _parse_each(self.key, DeviceSpec, raw)
        in_file = {e.strip().lower() for e in _mapping("users", ctx.document.get("users"))}
        problems = []
        seen: dict[str, str] = {}
        for number, dev in devices.items():
            key = norm_number(number)
            if not key:
                problems.append((f"devices.{number}", "not a number or extension"))
            elif key in seen:
                problems.append((f"devices.{number}", f"same number as {seen[key]!r}"))
            seen[key] = number
            if (
                dev.user
                and dev.user.lower() not in in_file
                and not Users(ctx.catalog).by_email(dev.user)
            ):
                problems.append((f"devices.{number}.user", f"no user {dev.user!r}"))
        if problems:
            raise ConfigFileError(problems)
        return devices

    def apply(self, parsed: dict[str, DeviceSpec], ctx: ApplyContext) -> list[str]:
        d, changes = Directory(ctx.catalog), []
        for number, dev in parsed.items():
            if d.upsert_device(number, user_email=dev.user, name=dev.name, sip_uri=dev.sip_uri):
                changes.append(f"devices: {number} saved")
        for have in d.devices():
            if have.number not in parsed and d.delete_device(have.number):
                changes.append(f"devices: {have.number} removed")
        return changes

    def export(self, catalog: Catalog) -> Any | None:
        out = {}
        for dev in Directory(catalog).devices():
            item = {"user": dev.user_email, "name": dev.name, "sip_uri": dev.sip_uri}
            out[dev.number] = {k: v for k, v in item.items() if v}
        return out or None


class RecordingPolicySection:
    key = "recording_policy"
    order = 9

    def validate(self, raw: Any, ctx: ApplyContext) -> RecordingPolicy | None:
        if raw is None:
            return None  # `recording_policy:` empty = no policy: record every call
        try:
            return RecordingPolicy.model_validate(raw)
        except ValidationError as e:
            raise ConfigFileError(validation_problems(self.key, e)) from None

    def apply(self, parsed: RecordingPolicy | None, ctx: ApplyContext) -> list[str]:
        d = Directory(ctx.catalog)
        if d.policy() == parsed:
            return []
        d.save_policy(parsed)
        return ["recording_policy: updated (the recorder applies it to new calls)"]

    def export(self, catalog: Catalog) -> Any | None:
        policy = Directory(catalog).policy()
        return policy.model_dump(mode="json", exclude_none=True) if policy else None


SECTIONS = [GroupsSection(), UsersSection(), DevicesSection(), RecordingPolicySection()]
