"""The `sftp_server:` section of the config file (the hosted SFTP service).

```yaml
sftp_server: {enabled: true, port: 8022, bind: 0.0.0.0, cache_mb: 512}
```

Declarative: omitted fields take their defaults. Turning the service off also revokes the SFTP
user's credentials (Focus: disabling and re-enabling resets them); credentials are never in the
file — `recflow sftp credentials` or the portal's Integrations tab generate and show them once.
"""

from __future__ import annotations

from typing import Any

from catalog.repository import Catalog
from services.config.base import ApplyContext, parse_model
from services.sftp_settings import (
    SETTINGS_DOC,
    SftpServerSettings,
    load_settings,
    revoke_credentials,
    save_settings,
)


class SftpServerSection:
    key = "sftp_server"
    order = 60

    def validate(self, raw: Any, ctx: ApplyContext) -> SftpServerSettings:
        return parse_model(SftpServerSettings, raw or {}, self.key)  # type: ignore[no-any-return]

    def apply(self, parsed: SftpServerSettings, ctx: ApplyContext) -> list[str]:
        current = load_settings(ctx.catalog)
        if current == parsed and ctx.catalog.get_document(SETTINGS_DOC) is not None:
            return []
        save_settings(ctx.catalog, parsed)
        changes = [
            f"sftp_server.{k}: {v!r} -> {getattr(parsed, k)!r}"
            for k, v in current.model_dump().items()
            if getattr(parsed, k) != v
        ]
        if current.enabled and not parsed.enabled and revoke_credentials(ctx.catalog):
            changes.append("sftp_server: credentials revoked")
        return changes

    def export(self, catalog: Catalog) -> dict[str, Any] | None:
        if catalog.get_document(SETTINGS_DOC) is None:
            return None
        return load_settings(catalog).model_dump(mode="json")
