"""The directory: groups (nested), who belongs to which, devices/extensions owned by users, and
per-user settings (forced password change, language). Users are ``catalog.users.Users``.

Also where the recording policy document lives (``recording_policy``) and how a
:class:`catalog.recording_policy.PolicySnapshot` is built from both.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select

from catalog.directory_tables import (
    CallCommandRow,
    DirDeviceRow,
    DirGroupRow,
    DirMemberRow,
    DirUserSettingsRow,
)
from catalog.models import assume_utc, new_id, utcnow
from catalog.portal_tables import UserRow
from catalog.recording_policy import PolicySnapshot, RecordingPolicy, norm_number
from catalog.repository import Catalog

POLICY_DOCUMENT = "recording_policy"


class DirectoryError(Exception):
    pass


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    parent: str | None  # parent group's name
    language: str = ""
    members: tuple[str, ...] = ()  # user ids


@dataclass(frozen=True)
class Device:
    id: str
    number: str
    sip_uri: str = ""
    name: str = ""
    user_id: str | None = None
    user_email: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class UserSettings:
    must_change_password: bool = False
    language: str = ""


@dataclass
class Scope:
    """What one user may see and manage, resolved from the directory (see services.visibility)."""

    group_ids: frozenset[str] = frozenset()  # their groups and the subgroups of those
    member_ids: frozenset[str] = frozenset()  # users in those groups
    numbers: frozenset[str] = frozenset()  # numbers of those users (devices + own numbers)
    own_numbers: frozenset[str] = field(default_factory=frozenset)


class Directory:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.db = catalog.db

    # ------------------------------------------------------------ groups

    def groups(self) -> list[Group]:
        with self.db.session() as s:
            rows = s.scalars(select(DirGroupRow).order_by(DirGroupRow.name)).all()
            names = {r.id: r.name for r in rows}
            members: dict[str, list[str]] = {}
            for m in s.scalars(select(DirMemberRow)):
                members.setdefault(m.group_id, []).append(m.user_id)
            return [
                Group(
                    r.id,
                    r.name,
                    names.get(r.parent_id) if r.parent_id else None,
                    r.language,
                    tuple(sorted(members.get(r.id, []))),
                )
                for r in rows
            ]

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups() if g.name == name), None)

    def upsert_group(self, name: str, *, parent: str | None = None, language: str = "") -> bool:
        """Create or update a group; returns True when something changed. One level of
        nesting: a subgroup's parent must itself be top-level."""
        name = name.strip()
        if not name or len(name) > 128:
            raise DirectoryError("a group needs a name of 1-128 characters")
        with self.db.session() as s:
            parent_id = None
            if parent:
                prow = s.scalars(select(DirGroupRow).where(DirGroupRow.name == parent)).first()
                if prow is None:
                    raise DirectoryError(f"group {name}: parent {parent!r} does not exist")
                if prow.parent_id is not None:
                    raise DirectoryError(
                        f"group {name}: {parent!r} is itself a subgroup (one level of nesting)"
                    )
                if prow.name == name:
                    raise DirectoryError(f"group {name} cannot be its own parent")
                parent_id = prow.id
            row = s.scalars(select(DirGroupRow).where(DirGroupRow.name == name)).first()
            if row is None:
                s.add(
                    DirGroupRow(
                        id=new_id(),
                        name=name,
                        parent_id=parent_id,
                        language=language,
                        created_at=utcnow(),
                    )
                )
                return True
            if parent_id is not None:
                has_children = s.scalars(
                    select(DirGroupRow.id).where(DirGroupRow.parent_id == row.id)
                ).first()
                if has_children:
                    raise DirectoryError(
                        f"group {name} has subgroups, so it cannot become a subgroup"
                    )
            if row.parent_id == parent_id and row.language == language:
                return False
            row.parent_id, row.language = parent_id, language
            return True

    def delete_group(self, name: str) -> bool:
        with self.db.session() as s:
            row = s.scalars(select(DirGroupRow).where(DirGroupRow.name == name)).first()
            if row is None:
                return False
            if s.scalars(select(DirGroupRow.id).where(DirGroupRow.parent_id == row.id)).first():
                raise DirectoryError(f"group {name} still has subgroups")
            s.execute(delete(DirMemberRow).where(DirMemberRow.group_id == row.id))
            s.delete(row)
            return True

    def set_user_groups(self, user_id: str, names: builtins.list[str]) -> bool:
        """Make ``user_id`` a member of exactly these groups; True when that changed."""
        with self.db.session() as s:
            rows = s.scalars(select(DirGroupRow).where(DirGroupRow.name.in_(names))).all()
            missing = sorted(set(names) - {r.name for r in rows})
            if missing:
                raise DirectoryError(f"no such group: {', '.join(missing)}")
            want = {r.id for r in rows}
            have = set(
                s.scalars(select(DirMemberRow.group_id).where(DirMemberRow.user_id == user_id))
            )
            if want == have:
                return False
            s.execute(
                delete(DirMemberRow).where(
                    DirMemberRow.user_id == user_id, DirMemberRow.group_id.in_(have - want)
                )
            )
            for gid in sorted(want - have):
                s.add(DirMemberRow(group_id=gid, user_id=user_id))
            return True

    def groups_of(self, user_id: str) -> builtins.list[str]:
        with self.db.session() as s:
            return sorted(
                s.scalars(
                    select(DirGroupRow.name)
                    .join(DirMemberRow, DirMemberRow.group_id == DirGroupRow.id)
                    .where(DirMemberRow.user_id == user_id)
                )
            )

    # ------------------------------------------------------------ devices

    def devices(self, *, user_id: str | None = None) -> builtins.list[Device]:
        with self.db.session() as s:
            q = (
                select(DirDeviceRow, UserRow.email)
                .outerjoin(UserRow, UserRow.id == DirDeviceRow.user_id)
                .order_by(DirDeviceRow.number)
            )
            if user_id is not None:
                q = q.where(DirDeviceRow.user_id == user_id)
            return [
                Device(
                    r.id,
                    r.number,
                    r.sip_uri,
                    r.name,
                    r.user_id,
                    email,
                    assume_utc(r.created_at),
                )
                for r, email in s.execute(q)
            ]

    def upsert_device(
        self,
        number: str,
        *,
        user_email: str | None = None,
        name: str = "",
        sip_uri: str = "",
    ) -> bool:
        number = number.strip()
        if not norm_number(number) or len(number) > 64:
            raise DirectoryError(f"not a device number: {number!r}")
        with self.db.session() as s:
            user_id = None
            if user_email:
                user_id = s.scalars(
                    select(UserRow.id).where(UserRow.email == user_email.strip().lower())
                ).first()
                if user_id is None:
                    raise DirectoryError(f"device {number}: no user {user_email}")
            row = s.scalars(select(DirDeviceRow).where(DirDeviceRow.number == number)).first()
            if row is None:
                s.add(
                    DirDeviceRow(
                        id=new_id(),
                        number=number,
                        sip_uri=sip_uri,
                        name=name,
                        user_id=user_id,
                        created_at=utcnow(),
                    )
                )
                return True
            if (row.user_id, row.name, row.sip_uri) == (user_id, name, sip_uri):
                return False
            row.user_id, row.name, row.sip_uri = user_id, name, sip_uri
            return True

    def delete_device(self, number: str) -> bool:
        with self.db.session() as s:
            res = s.execute(delete(DirDeviceRow).where(DirDeviceRow.number == number.strip()))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ per-user settings

    def user_settings(self, user_id: str) -> UserSettings:
        with self.db.session() as s:
            row = s.get(DirUserSettingsRow, user_id)
            if row is None:
                return UserSettings()
            return UserSettings(row.must_change_password, row.language)

    def set_user_settings(
        self, user_id: str, *, must_change_password: bool | None = None, language: str | None = None
    ) -> None:
        with self.db.session() as s:
            row = s.get(DirUserSettingsRow, user_id)
            if row is None:
                row = DirUserSettingsRow(user_id=user_id, must_change_password=False, language="")
                s.add(row)
            if must_change_password is not None:
                row.must_change_password = must_change_password
            if language is not None:
                row.language = language

    # ------------------------------------------------------------ scoping

    def numbers_of(self, user_ids: builtins.list[str] | frozenset[str]) -> frozenset[str]:
        """Every number of these users: their devices and their own ``numbers``."""
        ids = sorted(user_ids)
        if not ids:
            return frozenset()
        with self.db.session() as s:
            out = set(s.scalars(select(DirDeviceRow.number).where(DirDeviceRow.user_id.in_(ids))))
            for nums in s.scalars(select(UserRow.numbers).where(UserRow.id.in_(ids))):
                out.update(nums or [])
        return frozenset(out)

    def scope_of(self, user_id: str) -> Scope:
        """The groups a user belongs to (and their subgroups), the members of those, and all
        their numbers; plus the user's own numbers."""
        with self.db.session() as s:
            direct = set(
                s.scalars(select(DirMemberRow.group_id).where(DirMemberRow.user_id == user_id))
            )
            groups = set(direct)
            if direct:
                groups |= set(
                    s.scalars(
                        select(DirGroupRow.id).where(DirGroupRow.parent_id.in_(sorted(direct)))
                    )
                )
            members = (
                set(
                    s.scalars(
                        select(DirMemberRow.user_id).where(
                            DirMemberRow.group_id.in_(sorted(groups))
                        )
                    )
                )
                if groups
                else set()
            )
        members.add(user_id)
        own = self.numbers_of([user_id])
        return Scope(
            frozenset(groups), frozenset(members), self.numbers_of(frozenset(members)) | own, own
        )

    # ------------------------------------------------------------ recording policy

    def policy(self) -> RecordingPolicy | None:
        doc = self.catalog.get_document(POLICY_DOCUMENT)
        return RecordingPolicy.model_validate(doc) if doc else None

    def save_policy(self, policy: RecordingPolicy | None) -> None:
        if policy is None:
            self.catalog.put_document(POLICY_DOCUMENT, {})
        else:
            self.catalog.put_document(
                POLICY_DOCUMENT, policy.model_dump(mode="json", exclude_none=True)
            )

    def snapshot(self) -> PolicySnapshot:
        devices: builtins.list[tuple[str, str | None]] = [
            (d.number, d.user_email) for d in self.devices()
        ]
        with self.db.session() as s:
            for email, nums in s.execute(select(UserRow.email, UserRow.numbers)):
                devices.extend((n, email) for n in (nums or []))
        return PolicySnapshot.build(self.policy(), devices)


# ---------------------------------------------------------------- live-call commands

CALL_ACTIONS = ("start", "stop")


def request_call_command(catalog: Catalog, call_id: str, action: str, requested_by: str) -> int:
    if action not in CALL_ACTIONS:
        raise DirectoryError(f"unknown action {action!r}")
    with catalog.db.session() as s:
        row = CallCommandRow(
            call_id=call_id,
            action=action,
            requested_by=requested_by,
            created_at=utcnow(),
            outcome="",
        )
        s.add(row)
        s.flush()
        return int(row.id)


def pending_call_commands(catalog: Catalog, limit: int = 100) -> list[tuple[int, str, str]]:
    """(id, call_id, action) not yet carried out, oldest first."""
    with catalog.db.session() as s:
        rows = s.execute(
            select(CallCommandRow.id, CallCommandRow.call_id, CallCommandRow.action)
            .where(CallCommandRow.done_at.is_(None))
            .order_by(CallCommandRow.id)
            .limit(limit)
        ).all()
        return [(int(i), c, a) for i, c, a in rows]


def finish_call_command(catalog: Catalog, command_id: int, outcome: str) -> None:
    with catalog.db.session() as s:
        row = s.get(CallCommandRow, command_id)
        if row is not None:
            row.done_at, row.outcome = utcnow(), outcome[:32]


def call_command(catalog: Catalog, command_id: int) -> dict[str, object] | None:
    with catalog.db.session() as s:
        row = s.get(CallCommandRow, command_id)
        if row is None:
            return None
        return {
            "id": row.id,
            "call_id": row.call_id,
            "action": row.action,
            "done": row.done_at is not None,
            "outcome": row.outcome,
        }
