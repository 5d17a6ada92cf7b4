"""Who may see which recordings and manage which users: role and group scoping (issue 16).

Stable API for every feature that lists, searches, reports on or exports recordings:

    visibility_for(catalog, user, *, token=None) -> catalog.portal_queries.Visibility
        What one caller may see. ``user`` is a ``catalog.users.User`` (or None for a bare API
        token). Pass it to ``catalog.portal_queries.page_recordings`` or use ``.allows(rec)``.
    visible_recording_filter(catalog, user, *, token=None) -> SQLAlchemy clause | None
        A WHERE clause over the ``recordings`` table (catalog.tables.RecordingRow) keeping only
        what the caller may see; None means "no restriction". For catalog queries that join
        or search recordings (workspace search, reports, exports).
    can_see_recording(catalog, user, recording, *, token=None) -> bool
        The same rule for one ``catalog.models.Recording``.
    manageable_user_ids(catalog, user) -> frozenset[str] | None
        Users this user may administer: None = everyone (admin); a group admin the members of
        their groups (and subgroups); everyone else nobody.
    can_manage_user(catalog, actor, target_user_id) -> bool

The rules (Masergy roles, product.md):
  * admin (super user): every call, private ones included; manages everyone.
  * group_admin, supervisor: calls on the numbers of the members of their groups (and of those
    groups' subgroups) and their own; group admins also manage those members.
  * user: calls on their own numbers only.
  * private calls: only to a party of the call (its own numbers) and admins -- never to group
    admins, supervisors or integration tokens.
  * an API token acts for the account (every non-private call) unless its creator is a portal
    user, in which case it sees what that user sees; a disabled creator's tokens stop at once.
A user's numbers are their directory devices plus the legacy ``numbers`` on the user row; a
supervisor's legacy ``group_numbers`` still count as supervised numbers.
"""

from __future__ import annotations

from typing import Any

from catalog.directory import Directory
from catalog.models import Recording
from catalog.portal_queries import Visibility, visibility_clause
from catalog.repository import Catalog
from catalog.users import ApiToken, Role, User, Users

__all__ = [
    "can_manage_user",
    "can_see_recording",
    "manageable_user_ids",
    "token_owner",
    "visibility_for",
    "visible_recording_filter",
]


def token_owner(catalog: Catalog, token: ApiToken) -> User | None:
    """The portal user who created ``token`` (``created_by`` is their e-mail), if any."""
    if "@" not in token.created_by:
        return None
    return Users(catalog).by_email(token.created_by)


def visibility_for(
    catalog: Catalog, user: User | None, *, token: ApiToken | None = None
) -> Visibility:
    if user is None and token is not None:
        user = token_owner(catalog, token)
        if user is None:
            return Visibility(everything=True)  # account token: all but private calls
    if user is None or user.disabled:
        return Visibility()  # nothing
    if user.role is Role.admin:
        return Visibility(everything=True, private_all=True)
    scope = Directory(catalog).scope_of(user.id)
    own = scope.own_numbers
    if user.role in (Role.group_admin, Role.supervisor):
        return Visibility(
            numbers=scope.numbers | frozenset(user.group_numbers) | own, own_numbers=own
        )
    return Visibility(numbers=own, own_numbers=own)


def visible_recording_filter(
    catalog: Catalog, user: User | None, *, token: ApiToken | None = None
) -> Any:
    return visibility_clause(visibility_for(catalog, user, token=token))


def can_see_recording(
    catalog: Catalog, user: User | None, recording: Recording, *, token: ApiToken | None = None
) -> bool:
    return visibility_for(catalog, user, token=token).allows(recording)


def manageable_user_ids(catalog: Catalog, user: User) -> frozenset[str] | None:
    if user.disabled:
        return frozenset()
    if user.role is Role.admin:
        return None
    if user.role is Role.group_admin:
        return Directory(catalog).scope_of(user.id).member_ids - {user.id}
    return frozenset()


def can_manage_user(catalog: Catalog, actor: User, target_user_id: str) -> bool:
    ids = manageable_user_ids(catalog, actor)
    return ids is None or target_user_id in ids
