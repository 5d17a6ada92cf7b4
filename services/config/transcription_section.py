"""The `transcription:` section of the config file (docs/configuration.md#transcription).

```yaml
transcription:                 # the built-in engine (faster-whisper); every field optional
  model: bundled:tiny.en       # or a CTranslate2 model directory / a model name the host has
  language: en                 # null to detect (multilingual models only)
  beam_size: 5
  hints: true                  # rule phrases, contact names, account name as decoder hints
  device: cpu                  # cpu | cuda | auto
  compute_type: int8
transcription: {connector: gpu-whisper, hints: true}   # or: a connector does the work
```

Declarative: what the file says is the whole setting (omitted fields take their defaults).
"""

from __future__ import annotations

from typing import Any

from catalog.repository import Catalog
from connectors.transcription_settings import TranscriptionSettings
from services.config.base import ApplyContext, ConfigFileError, parse_model

DOCUMENT = "transcription"


def _declared_kinds(ctx: ApplyContext) -> dict[str, str]:
    """name -> kind of the connectors this file declares and those already stored."""
    out: dict[str, str] = {}
    try:
        from catalog.connector_configs import list_connectors

        out.update({c.name: c.kind for c in list_connectors(ctx.catalog)})
    except ImportError:  # the connectors feature is not installed in this build
        pass
    raw = ctx.document.get("connectors")
    items = raw if isinstance(raw, list) else []
    if isinstance(raw, dict):
        items = [{"name": k, **(v if isinstance(v, dict) else {})} for k, v in raw.items()]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            out[item["name"]] = str(item.get("kind", ""))
    return out


def _transcribes(kind: str) -> bool:
    try:
        from connectors import registry

        return "transcribe" in registry.get(kind).capabilities
    except Exception:  # unknown kind: the connectors section reports it
        return True


class TranscriptionSection:
    key = "transcription"
    order = 30  # after connectors, which it may name

    def validate(self, raw: Any, ctx: ApplyContext) -> TranscriptionSettings:
        if raw is not None and not isinstance(raw, dict):
            raise ConfigFileError([(self.key, "must be a mapping (see docs/configuration.md)")])
        parsed: TranscriptionSettings = parse_model(TranscriptionSettings, raw or {}, self.key)
        if parsed.connector:
            kinds = _declared_kinds(ctx)
            if parsed.connector not in kinds:
                raise ConfigFileError(
                    [(f"{self.key}.connector", f"no connector named {parsed.connector!r}")]
                )
            kind = kinds[parsed.connector]
            if kind and not _transcribes(kind):
                raise ConfigFileError(
                    [
                        (
                            f"{self.key}.connector",
                            f"connector {parsed.connector!r} ({kind}) cannot transcribe",
                        )
                    ]
                )
        return parsed

    def apply(self, parsed: TranscriptionSettings, ctx: ApplyContext) -> list[str]:
        new = parsed.to_file()
        current = ctx.catalog.get_document(DOCUMENT) or {}
        if current == new:
            return []
        ctx.catalog.put_document(DOCUMENT, new)
        keys = sorted(set(current) | set(new))
        return [
            f"transcription.{k}: {current.get(k)!r} -> {new.get(k)!r}"
            for k in keys
            if current.get(k) != new.get(k)
        ]

    def export(self, catalog: Catalog) -> dict[str, Any] | None:
        doc = catalog.get_document(DOCUMENT)
        return dict(doc) if doc else None
