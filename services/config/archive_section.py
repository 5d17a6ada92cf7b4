"""The `archive:` and `retention:` sections of the config file.

```yaml
archive:
  - name: nightly-s3
    connector: s3-archive        # a storage connector from `connectors:`
    layout: focus                # masergy-default | masergy-custom | focus | Jinja2 template
    formats: [MP3, WAV_16_8000_S]
    schedule: "0 2 * * *"        # cron; one Prefect deployment schedule per archive
    timezone: Europe/London
    mode: copy                   # copy | move
    secondary: sftp-dr           # optional: another connector (or archive) for a second copy
retention:
  default_days: 60
  legal_hold: false              # the account-wide legal hold (same flag as account.legal_hold)
  groups: [{name: sales, days: 365, numbers: ["+4420*"]}]
```

Both sections validate everything first: unknown connectors, connectors that cannot store
objects, bad cron expressions and time zones, layouts that do not render, all name the path of
the bad field. `archive:` is declarative (entries absent from the file are removed; their
ledger stays).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from catalog import archive as store
from catalog.archive import ArchiveDestination, RetentionPolicy
from catalog.repository import Catalog
from services.config.base import ApplyContext, ConfigFileError, parse_model


def _known_connectors(ctx: ApplyContext) -> dict[str, str]:
    """name → kind of the connectors that will exist after this apply."""
    if "connectors" in ctx.document:
        parsed = ctx.parsed.get("connectors") or []
        return {p.entry.name: p.entry.kind for p in parsed}
    from catalog.connector_configs import list_connectors

    return {s.name: s.kind for s in list_connectors(ctx.catalog)}


def _can_store(kind: str) -> bool:
    from connectors import registry

    try:
        return "store_object" in registry.get(kind).capabilities
    except KeyError:
        return False


class ArchiveSection:
    key = "archive"
    order = 40  # after connectors (their names are checked here)

    def validate(self, raw: Any, ctx: ApplyContext) -> list[ArchiveDestination]:
        from services.archive_layout import LayoutError, validate_layout

        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise ConfigFileError([(self.key, "must be a list of archive destinations")])
        problems: list[tuple[str, str]] = []
        out: list[ArchiveDestination] = []
        for i, item in enumerate(raw):
            path = f"{self.key}.{i}"
            try:
                out.append(parse_model(ArchiveDestination, item, path))
            except ConfigFileError as e:
                problems.extend(e.problems)
        names = [d.name for d in out]
        connectors = _known_connectors(ctx)
        for i, d in enumerate(out):
            path = f"{self.key}.{i}"
            if names.count(d.name) > 1:
                problems.append((f"{path}.name", f"duplicate archive name {d.name!r}"))
            for field, target in (("connector", d.connector), ("secondary", d.secondary)):
                if target is None:
                    continue
                if field == "secondary" and target in names:
                    other = out[names.index(target)]
                    if other.name == d.name:
                        problems.append(
                            (f"{path}.secondary", "an archive cannot be its own secondary")
                        )
                    continue
                if target not in connectors:
                    known = ", ".join(sorted(connectors)) or "none configured"
                    problems.append(
                        (f"{path}.{field}", f"unknown connector {target!r} (known: {known})")
                    )
                elif not _can_store(connectors[target]):
                    problems.append(
                        (
                            f"{path}.{field}",
                            f"connector {target!r} ({connectors[target]}) cannot store objects",
                        )
                    )
            try:
                validate_layout(d.layout)
            except LayoutError as e:
                problems.append((f"{path}.layout", str(e)))
        if problems:
            raise ConfigFileError(problems)
        return out

    def apply(self, parsed: list[ArchiveDestination], ctx: ApplyContext) -> list[str]:
        current = {d.name: d for d in store.load_destinations(ctx.catalog)}
        wanted = {d.name: d for d in parsed}
        changes = []
        for name, d in wanted.items():
            if name not in current:
                changes.append(
                    f"archive.{name}: created "
                    f"({d.connector}, {d.layout}, {d.schedule or 'on demand'})"
                )
            elif current[name] != d:
                changes.append(f"archive.{name}: updated")
        changes += [f"archive.{name}: removed" for name in sorted(set(current) - set(wanted))]
        if changes:
            store.save_destinations(ctx.catalog, parsed)
        return changes

    def export(self, catalog: Catalog) -> list[dict[str, Any]] | None:
        dests = store.load_destinations(catalog)
        if not dests:
            return None
        # the fields people look for always; the rest only where they differ from the default
        shown = ("name", "connector", "layout", "formats", "schedule", "mode")
        return [
            {
                **{k: getattr(d, k) for k in shown},
                **d.model_dump(mode="json", exclude_defaults=True, exclude=set(shown)),
            }
            for d in dests
        ]


class RetentionEntry(RetentionPolicy):
    """The file's view: the policy plus the account-wide legal hold switch."""

    model_config = ConfigDict(extra="forbid")

    legal_hold: bool | None = Field(
        None, description="Account-wide legal hold: nothing is deleted while true"
    )


class RetentionSection:
    key = "retention"
    order = 45

    def validate(self, raw: Any, ctx: ApplyContext) -> RetentionEntry:
        entry: RetentionEntry = parse_model(RetentionEntry, raw or {}, self.key)
        account = ctx.document.get("account") or {}
        if (
            entry.legal_hold is not None
            and isinstance(account, dict)
            and account.get("legal_hold") is not None
            and bool(account["legal_hold"]) != entry.legal_hold
        ):
            raise ConfigFileError(
                [(f"{self.key}.legal_hold", "contradicts account.legal_hold; set it in one place")]
            )
        return entry

    def apply(self, parsed: RetentionEntry, ctx: ApplyContext) -> list[str]:
        changes = []
        policy = RetentionPolicy.model_validate(parsed.model_dump(exclude={"legal_hold"}))
        if (
            policy != store.load_policy(ctx.catalog)
            or ctx.catalog.get_document(store.RETENTION_DOC) is None
        ):
            store.save_policy(ctx.catalog, policy)
            changes.append(
                f"retention: {policy.default_days} days default, {len(policy.groups)} group(s)"
            )
        if parsed.legal_hold is not None:
            account = ctx.catalog.account()
            if account.legal_hold != parsed.legal_hold:
                account.legal_hold = parsed.legal_hold
                ctx.catalog.save_account(account)
                changes.append(
                    f"retention.legal_hold: {not parsed.legal_hold} -> {parsed.legal_hold}"
                )
        return changes

    def export(self, catalog: Catalog) -> dict[str, Any] | None:
        if catalog.get_document(store.RETENTION_DOC) is None:
            return None
        out = store.load_policy(catalog).model_dump(mode="json", exclude_defaults=True)
        out["default_days"] = store.load_policy(catalog).default_days
        out["legal_hold"] = catalog.account().legal_hold
        return out
