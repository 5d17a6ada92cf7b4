"""The `recorder:` section of the config file (trusted sources, max calls, DTMF codes, timeouts).

Stored as the catalog document ``recorder``; `recflow recorder` reads it at start-up (restart the
recorder to apply a change). Command-line flags win over the document.
"""

from __future__ import annotations

from typing import Any

from catalog.repository import Catalog
from recorder.config import RecorderSettings
from services.config.base import ApplyContext, parse_model

DOCUMENT = "recorder"


def load_settings(catalog: Catalog) -> RecorderSettings:
    doc = catalog.get_document(DOCUMENT)
    return RecorderSettings.model_validate(doc) if doc else RecorderSettings()


class RecorderSection:
    key = "recorder"
    order = 5

    def validate(self, raw: Any, ctx: ApplyContext) -> RecorderSettings:
        return parse_model(RecorderSettings, raw or {}, self.key)  # type: ignore[no-any-return]

    def apply(self, parsed: RecorderSettings, ctx: ApplyContext) -> list[str]:
        new = parsed.model_dump(mode="json")
        if ctx.catalog.get_document(DOCUMENT) == new:
            return []
        ctx.catalog.put_document(DOCUMENT, new)
        return ["recorder: settings updated (restart the recorder to apply)"]

    def export(self, catalog: Catalog) -> Any | None:
        doc = catalog.get_document(DOCUMENT)
        return RecorderSettings.model_validate(doc).model_dump(mode="json") if doc else None
