"""`recflow secrets rotate`: move every stored secret onto the current ``RECFLOW_SECRET_KEY``.

Run it after setting the new key as ``RECFLOW_SECRET_KEY`` and the old one as
``RECFLOW_SECRET_KEY_PREVIOUS`` (see :mod:`catalog.keys`). It re-encrypts connector secrets,
TOTP seeds and the single sign-on client secret; when it has run, the previous key can be
dropped. Nothing is changed unless every secret could be read (all or nothing), so a wrong
previous key leaves the data as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from catalog.connector_configs import list_connectors, put_connector
from catalog.portal_tables import UserRow
from catalog.repository import Catalog
from catalog.users import Users
from connectors.secrets import SecretsError, rotate_token
from services import sso_settings


class RotationError(Exception):
    pass


@dataclass(frozen=True)
class Rotation:
    connectors: int
    totp_seeds: int
    users_with_recovery_codes: int  # their codes keep working while the previous key is set
    sso_client_secret: int = 0


def rotate(catalog: Catalog) -> Rotation:
    keys = catalog.settings
    secret_key = keys.resolved_secret_key()
    stored = [c for c in list_connectors(catalog) if c.secrets]
    try:
        rotated = [
            c.model_copy(update={"secrets": rotate_token(c.secrets, secret_key=secret_key)})
            for c in stored
        ]
    except SecretsError as e:
        raise RotationError(str(e)) from None
    try:
        sso_settings.load(catalog)  # readable with some key, or nothing changes
    except sso_settings.SsoSettingsError as e:
        raise RotationError(str(e)) from None
    try:
        seeds = Users(catalog).rotate_secrets()
    except Exception as e:  # UserError: a seed no key opens
        raise RotationError(str(e)) from None
    sso = sso_settings.rotate(catalog)
    for c in rotated:
        put_connector(catalog, c)
    with catalog.db.session() as s:
        with_codes = sum(1 for r in s.scalars(select(UserRow)) if r.recovery_hashes)
    return Rotation(len(rotated), seeds, with_codes, sso)
