"""The ``connectors:`` section of the config file.

```yaml
connectors:
  - name: support-slack          # unique; rules and the delivery log use it
    kind: slack                  # `recflow connectors list` shows the kinds
    config: {token: "${SLACK_TOKEN}", channel: "#support"}
    on: every_call               # optional: deliver every processed call
    enabled: true                # optional
```

``${VAR}`` references are resolved from the environment at apply time; the resolved secret is
stored encrypted, and the reference text is remembered so ``config export`` writes ``${VAR}``
back. A secret given literally is exported masked (``"**********"``), never as its value;
applying the export keeps the stored secret, so ``config export`` then ``config apply``
round-trips. The section is declarative: connectors that are stored but absent from the file are
removed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from catalog.connector_configs import (
    StoredConnector,
    delete_connector,
    get_connector,
    list_connectors,
    put_connector,
)
from catalog.repository import Catalog
from connectors import registry
from connectors.base import secret_fields
from connectors.configured import make_stored, values_of
from connectors.secrets import SecretsError
from services.config.base import (
    ApplyContext,
    ConfigFileError,
    expand_env,
    parse_model,
    validation_problems,
)

EVENTS = ("every_call",)
_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


class ConnectorEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", description="Unique connector name"
    )
    kind: str = Field(description="Connector kind, e.g. slack")
    config: dict[str, Any] = Field(default_factory=dict, description="The kind's settings")
    on: list[str] = Field(default_factory=list, description="Events to deliver: every_call")
    enabled: bool = Field(True, description="Switch the connector off without removing it")

    @field_validator("on", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        if v is None:
            return []
        return [v] if isinstance(v, str) else v

    @field_validator("on")
    @classmethod
    def _known_events(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if e not in EVENTS]
        if bad:
            raise ValueError(f"unknown event(s) {bad}; known: {', '.join(EVENTS)}")
        return v


MASK = "**********"  # a secret in an export: "keep the stored value" when applied back


class ParsedConnector(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry: ConnectorEntry
    values: dict[str, Any]
    refs: dict[str, Any]


def _has_ref(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_REF.search(value))
    if isinstance(value, Mapping):
        return any(_has_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_ref(v) for v in value)
    return False


def _expand(value: Any, environ: Mapping[str, str], path: str) -> Any:
    if isinstance(value, str):
        return expand_env(value, environ, path)
    if isinstance(value, Mapping):
        return {k: _expand(v, environ, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, f"{path}.{i}") for i, v in enumerate(value)]
    return value


def _keep_masked_secrets(
    catalog: Catalog, entry: ConnectorEntry, model: Any, values: dict[str, Any], path: str
) -> dict[str, Any]:
    """A secret exported masked means "keep what is stored" (the export -> apply round trip)."""
    masked = [f for f in secret_fields(model) if values.get(f) == MASK]
    if not masked:
        return values
    stored = get_connector(catalog, entry.name)
    try:
        kept = values_of(stored) if stored is not None and stored.kind == entry.kind else {}
    except SecretsError:
        kept = {}
    problems = [
        (f"{path}.config.{f}", "masked, but no stored secret to keep: give it or a ${VAR}")
        for f in masked
        if f not in kept
    ]
    if problems:
        raise ConfigFileError(problems)
    return {**values, **{f: kept[f] for f in masked}}


def env_name(connector: str, field: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", f"{connector}_{field}".upper()).strip("_")


class ConnectorsSection:
    key = "connectors"
    order = 10  # after account, before rules that name connectors

    def validate(self, raw: Any, ctx: ApplyContext) -> list[ParsedConnector]:
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise ConfigFileError([(self.key, "must be a list of connectors")])
        problems: list[tuple[str, str]] = []
        parsed: list[ParsedConnector] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            path = f"{self.key}.{i}"
            if isinstance(item, dict) and True in item:
                # YAML 1.1 reads a bare `on:` key as the boolean true
                item = {("on" if k is True else k): v for k, v in item.items()}
            try:
                entry: ConnectorEntry = parse_model(ConnectorEntry, item, path)
            except ConfigFileError as e:
                problems.extend(e.problems)
                continue
            if entry.name in seen:
                problems.append((f"{path}.name", f"duplicate connector name {entry.name!r}"))
            seen.add(entry.name)
            try:
                cls = registry.get(entry.kind)
            except KeyError as e:
                problems.append((f"{path}.kind", str(e.args[0])))
                continue
            try:
                values = _expand(entry.config, ctx.environ, f"{path}.config")
                values = _keep_masked_secrets(ctx.catalog, entry, cls.config_model, values, path)
            except ConfigFileError as e:
                problems.extend(e.problems)
                continue
            try:
                cls.config_model.model_validate(values)
            except ValidationError as e:
                problems.extend(validation_problems(f"{path}.config", e))
                continue
            refs = {k: v for k, v in entry.config.items() if _has_ref(v)}
            parsed.append(ParsedConnector(entry=entry, values=values, refs=refs))
        if problems:
            raise ConfigFileError(problems)
        return parsed

    def apply(self, parsed: list[ParsedConnector], ctx: ApplyContext) -> list[str]:
        changes: list[str] = []
        current = {s.name: s for s in list_connectors(ctx.catalog)}
        for p in parsed:
            e = p.entry
            old = current.get(e.name)
            if old is not None and _same(old, p):
                continue
            stored = make_stored(
                name=e.name, kind=e.kind, values=p.values, enabled=e.enabled, on=e.on, refs=p.refs
            )
            if old is not None:
                stored.created_at = old.created_at
            put_connector(ctx.catalog, stored)
            changes.append(f"connectors.{e.name}: {'updated' if old else 'created'} ({e.kind})")
        wanted = {p.entry.name for p in parsed}
        for name in sorted(set(current) - wanted):
            delete_connector(ctx.catalog, name)
            changes.append(f"connectors.{name}: removed")
        return changes

    def export(self, catalog: Catalog) -> list[dict[str, Any]] | None:
        stored = list_connectors(catalog)
        if not stored:
            return None
        return [export_entry(s) for s in stored]


def _same(old: StoredConnector, new: ParsedConnector) -> bool:
    e = new.entry
    if (old.kind, old.enabled, old.on, old.refs) != (e.kind, e.enabled, e.on, new.refs):
        return False
    try:
        return values_of(old) == new.values
    except SecretsError:
        return False  # written under another key: rewrite with this one


def export_entry(s: StoredConnector) -> dict[str, Any]:
    """One connector as file content; secret values never appear, only references."""
    try:
        secrets = set(secret_fields(registry.get(s.kind).config_model))
    except KeyError:
        secrets = set()
    config: dict[str, Any] = {}
    for field, value in s.config.items():
        config[field] = s.refs.get(field, value)
    for field in sorted(secrets - set(s.config)):
        if field in s.refs:
            config[field] = s.refs[field]
        elif s.secrets:
            config[field] = MASK
    # only secrets that were actually set appear (make_stored drops absent ones)
    if s.secrets:
        try:
            present = set(values_of(s)) & secrets
        except SecretsError:
            present = secrets & set(config)
        for field in list(config):
            if field in secrets and field not in present:
                del config[field]
    else:
        for field in list(config):
            if field in secrets and field not in s.refs:
                del config[field]
    out: dict[str, Any] = {"name": s.name, "kind": s.kind, "config": config}
    if s.on:
        out["on"] = s.on[0] if len(s.on) == 1 else list(s.on)
    if not s.enabled:
        out["enabled"] = False
    return out
