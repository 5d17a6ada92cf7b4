"""Connector forms generated from each kind's pydantic config model, stored through the same
catalog rows (catalog.connector_configs) that the `connectors:` config section writes, so
`recflow config export` shows portal edits. Secrets are write-only: a blank secret field keeps
the stored value; pages and audit entries only ever show that a secret is set."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from catalog.audit import FieldChange, diff
from catalog.repository import Catalog

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 15.0
SIMPLE = (str, int, float, bool)


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    help: str
    kind: str  # text | number | checkbox | secret | json
    value: str
    required: bool
    is_set: bool = False  # secrets: a value is stored


def _modules() -> tuple[Any, Any, Any, Any]:
    from catalog import connector_configs
    from connectors import configured, registry
    from connectors.base import secret_fields

    return connector_configs, configured, registry, secret_fields


def available() -> bool:
    try:
        _modules()
    except Exception as e:  # the portal must render even when the connectors tree is broken
        log.warning("connectors unavailable: %s", e)
        return False
    return True


def rows(catalog: Catalog) -> list[dict[str, Any]]:
    from connectors.health import health_of

    cc, *_ = _modules()
    out = []
    for s in cc.list_connectors(catalog):
        h = health_of(catalog, s)
        out.append(
            {
                "name": s.name,
                "kind": s.kind,
                "enabled": s.enabled,
                "on": s.on,
                "health": h.state,
                "health_label": h.label,
                "last_success_at": h.last_success_at,
                "last_error": h.last_error,
            }
        )
    return out


def installed() -> list[dict[str, Any]]:
    _, _, registry, _ = _modules()
    return [
        {
            "kind": k,
            "display_name": getattr(c, "display_name", k),
            "capabilities": sorted(getattr(c, "capabilities", [])),
        }
        for k, c in sorted(registry.available().items())
    ]


def load_errors() -> list[Any]:
    _, _, registry, _ = _modules()
    return list(registry.load_errors())


def _key(catalog: Catalog) -> str:
    return catalog.settings.resolved_secret_key()


def _public(stored: Any, secret_names: set[str]) -> dict[str, Any]:
    """What the audit trail may see of a stored connector: plain values, secrets as 'set'."""
    out = {"kind": stored.kind, "enabled": stored.enabled, "on": list(stored.on)}
    out.update({f"config.{k}": v for k, v in stored.config.items()})
    return out


def fields(catalog: Catalog, kind: str, name: str | None) -> list[FormField]:
    cc, configured, registry, secret_fields = _modules()
    model = registry.get(kind).config_model
    secrets = set(secret_fields(model))
    stored = cc.get_connector(catalog, name) if name else None
    current: dict[str, Any] = {}
    set_secrets: set[str] = set()
    if stored is not None:
        current = dict(stored.config)
        try:
            set_secrets = set(configured.values_of(stored, secret_key=_key(catalog))) & secrets
        except Exception:
            set_secrets = set()
    out = []
    for fname, f in model.model_fields.items():
        ann = f.annotation
        default = None if f.is_required() else f.get_default(call_default_factory=True)
        value = current.get(fname, default)
        if fname in secrets:
            kind_ = "secret"
            shown = ""  # write-only
        elif ann is bool:
            kind_, shown = "checkbox", "on" if value else ""
        elif ann in (int, float):
            kind_, shown = "number", "" if value is None else str(value)
        elif ann is str or isinstance(value, str) or value is None:
            kind_, shown = "text", "" if value is None else str(value)
        else:
            kind_, shown = "json", json.dumps(value)
        out.append(
            FormField(
                fname,
                fname.replace("_", " "),
                f.description or "",
                kind_,
                shown,
                f.is_required(),
                fname in set_secrets,
            )
        )
    return out


@dataclass(frozen=True)
class SaveOutcome:
    ok: bool
    problems: list[tuple[str, str]]
    changes: list[FieldChange]


def save(catalog: Catalog, name: str, kind: str, form: Any, *, every_call: bool) -> SaveOutcome:
    cc, configured, registry, secret_fields = _modules()
    try:
        cls = registry.get(kind)
    except KeyError as e:
        return SaveOutcome(False, [("kind", str(e))], [])
    model = cls.config_model
    secrets = set(secret_fields(model))
    old = cc.get_connector(catalog, name)
    if old is not None and old.kind != kind:
        return SaveOutcome(
            False, [("kind", "a connector keeps its kind; remove and re-add it")], []
        )
    previous: dict[str, Any] = {}
    if old is not None:
        previous = configured.values_of(old, secret_key=_key(catalog))
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for f in fields(catalog, kind, name if old else None):
        raw = form.get(f.name)
        if f.kind == "secret":
            if raw:
                values[f.name] = str(raw)
            elif f.name in previous:
                values[f.name] = previous[f.name]  # blank = unchanged (write-only)
        elif f.kind == "checkbox":
            values[f.name] = raw in ("on", "true", "1")
        elif f.kind == "json":
            if raw not in (None, ""):
                try:
                    values[f.name] = json.loads(str(raw))
                except ValueError:
                    problems.append((f.name, "not valid JSON"))
        elif raw not in (None, ""):
            values[f.name] = str(raw)
    if not problems:
        try:
            validated = model.model_validate(values)
        except ValidationError as e:
            problems = [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in e.errors()]
    if problems:
        return SaveOutcome(False, problems, [])
    clean = {k: v for k, v in validated.model_dump(exclude_unset=True).items()}
    for k in secrets & set(clean):
        v = clean[k]
        clean[k] = v.get_secret_value() if hasattr(v, "get_secret_value") else v
    on = list(old.on) if old else []
    on = sorted(set(on) | {"every_call"}) if every_call else [e for e in on if e != "every_call"]
    # a `${VAR}` reference from the config file stays only while its value is unchanged
    refs = {k: v for k, v in (old.refs if old else {}).items() if clean.get(k) == previous.get(k)}
    stored = configured.make_stored(
        name=name,
        kind=kind,
        values=clean,
        enabled=old.enabled if old else True,
        on=on,
        refs=refs,
        secret_key=_key(catalog),
    )
    if old is not None:
        stored.created_at = old.created_at
    before = _public(old, secrets) if old else {}
    after = _public(stored, secrets)
    changes = diff(before, after, f"connectors.{name}")
    changed_secrets = sorted(k for k in secrets if clean.get(k) != previous.get(k))
    changes += [
        FieldChange(
            field=f"connectors.{name}.config.{k}",
            old="••••••" if k in previous else None,
            new="••••••" if k in clean else None,
        )
        for k in changed_secrets
    ]
    cc.put_connector(catalog, stored)
    return SaveOutcome(True, [], changes)


def set_enabled(catalog: Catalog, name: str, enabled: bool) -> list[FieldChange] | None:
    cc, *_ = _modules()
    stored = cc.get_connector(catalog, name)
    if stored is None:
        return None
    if stored.enabled == enabled:
        return []
    cc.put_connector(catalog, stored.model_copy(update={"enabled": enabled}))
    return [FieldChange(field=f"connectors.{name}.enabled", old=stored.enabled, new=enabled)]


async def check(catalog: Catalog, name: str) -> dict[str, Any]:
    """Build the configured connector and run its check(): the stable codes (ok,
    cannot_connect, invalid_auth, invalid_config, …) are what the Test button shows."""
    cc, configured, *_ = _modules()
    stored = cc.get_connector(catalog, name)
    if stored is None:
        return {"ok": False, "code": "not_configured", "message": f"no connector named {name!r}"}
    try:
        conn = configured.build(stored, secret_key=_key(catalog))
    except Exception as e:
        return {"ok": False, "code": getattr(e, "code", "invalid_config"), "message": str(e)[:500]}
    try:
        result = await asyncio.wait_for(conn.check(), CHECK_TIMEOUT_S)
        return {"ok": bool(result.ok), "code": result.code, "message": (result.message or "")[:500]}
    except TimeoutError:
        return {"ok": False, "code": "cannot_connect", "message": "no answer in time"}
    except Exception as e:
        return {"ok": False, "code": getattr(e, "code", "unknown"), "message": str(e)[:500]}
    finally:
        try:
            await conn.aclose()
        except Exception:
            log.debug("aclose of %s failed", name, exc_info=True)
