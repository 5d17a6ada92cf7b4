"""The ``oidc:`` section of the config file: single sign-on with one OpenID Connect provider.

```yaml
oidc:
  issuer: https://login.example.com/realms/acme
  client_id: recflow
  client_secret: "${OIDC_CLIENT_SECRET}"
  default_role: user            # admin | group_admin | supervisor | user
  groups_claim: groups          # claim with group names; matching recflow groups are set
  scopes: [openid, email, profile, groups]   # optional
  button_label: Sign in with Acme ID         # optional
```

``oidc: null`` switches single sign-on off. The secret is resolved at apply time and stored
encrypted; ``config export`` writes the ``${VAR}`` reference back (a literal secret is exported
masked, and applying the mask keeps the stored secret).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from catalog.repository import Catalog
from services import sso_settings
from services.config.base import ApplyContext, ConfigFileError, expand_env, parse_model
from services.sso_settings import OidcSettings, SsoSettingsError

MASK = "**********"
_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass(frozen=True)
class ParsedOidc:
    settings: OidcSettings | None  # None: single sign-on off
    secret_ref: str = ""


class OidcSection:
    key = "oidc"
    order = 62  # independent of the others: the groups it names are looked up at each login

    def validate(self, raw: Any, ctx: ApplyContext) -> ParsedOidc:
        if raw is None:
            return ParsedOidc(None)
        if not isinstance(raw, dict):
            raise ConfigFileError([(self.key, "must be a mapping (issuer, client_id, …) or null")])
        values = dict(raw)
        secret = values.get("client_secret")
        ref = ""
        problems: list[tuple[str, str]] = []
        try:
            if isinstance(secret, str):
                if secret == MASK:  # an export applied back: keep the stored secret and its ref
                    values["client_secret"] = self._stored_secret(ctx.catalog)
                    ref = sso_settings.secret_ref(ctx.catalog)
                elif _REF.search(secret):
                    ref = secret
                    values["client_secret"] = expand_env(
                        secret, ctx.environ, f"{self.key}.client_secret"
                    )
                if not values["client_secret"]:
                    raise ConfigFileError([(f"{self.key}.client_secret", "is empty")])
            elif secret is not None:
                raise ConfigFileError(
                    [
                        (
                            f"{self.key}.client_secret",
                            'must be a string such as "${OIDC_CLIENT_SECRET}"',
                        )
                    ]
                )
        except ConfigFileError as e:
            problems.extend(e.problems)
            values["client_secret"] = "(unusable)"  # still check every other field
        try:
            settings: OidcSettings = parse_model(OidcSettings, values, self.key)
        except ConfigFileError as e:
            problems.extend(e.problems)
        if problems:
            raise ConfigFileError(problems)
        return ParsedOidc(settings, ref)

    def _stored_secret(self, catalog: Catalog) -> str:
        try:
            current = sso_settings.load(catalog)
        except SsoSettingsError as e:
            raise ConfigFileError([(f"{self.key}.client_secret", str(e))]) from None
        if current is None:
            raise ConfigFileError(
                [
                    (
                        f"{self.key}.client_secret",
                        "masked, but no stored secret to keep: give a ${VAR}",
                    )
                ]
            )
        return current.client_secret.get_secret_value()

    def apply(self, parsed: ParsedOidc, ctx: ApplyContext) -> list[str]:
        try:
            current = sso_settings.load(ctx.catalog)
        except SsoSettingsError:
            current = None  # unreadable: rewrite it under this key
        new = parsed.settings
        if new is None:
            if current is None:
                return []
            sso_settings.save(ctx.catalog, None)
            return ["oidc: single sign-on switched off"]
        ref = parsed.secret_ref
        if current is not None and current == new and sso_settings.secret_ref(ctx.catalog) == ref:
            return []
        sso_settings.save(ctx.catalog, new, ref)
        if current is None:
            return [f"oidc: single sign-on with {new.issuer} (client {new.client_id})"]
        changes = [
            f"oidc.{k}: {v!r} -> {getattr(new, k)!r}"
            for k, v in current.model_dump(exclude={"client_secret"}, mode="json").items()
            if new.model_dump(mode="json")[k] != v
        ]
        if current.client_secret != new.client_secret:
            changes.append("oidc.client_secret: changed")
        return changes or ["oidc.client_secret: reference changed"]

    def export(self, catalog: Catalog) -> dict[str, Any] | None:
        try:
            current = sso_settings.load(catalog)
        except SsoSettingsError:
            current = None
        if current is None:
            return None
        out = current.model_dump(mode="json", exclude={"client_secret"})
        out["client_secret"] = sso_settings.secret_ref(catalog) or MASK
        return {k: out[k] for k in OidcSettings.model_fields}
