"""The `rules:` section of the config file: keyword rules (see docs/triggers.md).

Validation refuses a whole file whose rules would misbehave at run time, and every message
starts with the rule's name (``rules.churn-risk.any: …``): empty phrase lists, a phrase with no
words, a bad window, proximity without two sides, duplicate names, an action naming a connector
that is neither in the same file's ``connectors:`` section nor already configured, and an
action naming a template that does not exist.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from catalog import trigger_matches as store
from catalog.repository import Catalog
from services.config.base import ApplyContext, ConfigFileError
from triggers.models import Rule, RuleSet


def _names_in(value: Any) -> set[str]:
    """Connector names from a section value in whatever shape it was parsed into: a list of
    items with a ``name``, a mapping name -> config, or a document holding ``connectors``."""
    if isinstance(value, dict):
        inner = value.get("connectors")
        if isinstance(inner, list | dict):
            return _names_in(inner)
        return {k for k in value if isinstance(k, str)}
    out: set[str] = set()
    if isinstance(value, list | tuple):
        for item in value:
            name = item.get("name") if isinstance(item, dict) else getattr(item, "name", None)
            if isinstance(name, str):
                out.add(name)
    return out


def configured_connectors(catalog: Catalog) -> set[str]:
    """Connector names already stored in the catalog (by the connectors feature)."""
    try:
        from catalog.connector_configs import list_connectors
    except ImportError:  # the connectors feature is not installed in this build
        return set()
    return {c.name for c in list_connectors(catalog)}


def _known_connectors(ctx: ApplyContext) -> set[str]:
    names = _names_in(ctx.document.get("connectors") or [])
    if "connectors" in ctx.parsed:
        names |= _names_in(ctx.parsed["connectors"])
    return names | configured_connectors(ctx.catalog)


def _label(raw: Any, i: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return str(name) if isinstance(name, str) and name else f"#{i + 1}"


def _problems(label: str, err: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        path = ".".join(["rules", label, *loc])
        msg = e["msg"].removeprefix("Value error, ")
        out.append((path, msg))
    return out


class RulesSection:
    key = "rules"
    order = 50  # after connectors (which rules name)

    def validate(self, raw: Any, ctx: ApplyContext) -> RuleSet:
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise ConfigFileError([(self.key, "must be a list of rules")])
        problems: list[tuple[str, str]] = []
        rules: list[Rule] = []
        seen: set[str] = set()
        known = _known_connectors(ctx)
        from services.keyword_triggers import template_exists

        for i, item in enumerate(raw):
            label = _label(item, i)
            try:
                rule = Rule.model_validate(item)
            except ValidationError as e:
                problems.extend(_problems(label, e))
                continue
            if rule.name in seen:
                problems.append((f"rules.{label}", "rule name used twice"))
            seen.add(rule.name)
            for j, action in enumerate(rule.actions):
                where = f"rules.{label}.actions.{j}"
                if action.connector not in known:
                    have = ", ".join(sorted(known)) or "none configured"
                    problems.append(
                        (f"{where}.connector", f"unknown connector {action.connector!r} ({have})")
                    )
                if not template_exists(action.template):
                    problems.append(
                        (f"{where}.template", f"no template triggers/{action.template}.txt.j2")
                    )
            rules.append(rule)
        if problems:
            raise ConfigFileError(problems)
        return RuleSet(rules=rules)

    def apply(self, parsed: RuleSet, ctx: ApplyContext) -> list[str]:
        before = RuleSet.model_validate(
            {"rules": store.load_rules_document(ctx.catalog).get("rules", [])}
        )
        if not store.save_rules_document(
            ctx.catalog, parsed.version, [r.to_file() for r in parsed.rules]
        ):
            return []
        old = {r.name: r for r in before.rules}
        new = {r.name: r for r in parsed.rules}
        changes = [f"rules.{n}: added" for n in new if n not in old]
        changes += [f"rules.{n}: changed" for n in new if n in old and old[n] != new[n]]
        changes += [f"rules.{n}: removed" for n in old if n not in new]
        return changes or ["rules: reordered"]

    def export(self, catalog: Catalog) -> list[dict[str, Any]] | None:
        doc = store.load_rules_document(catalog)
        return list(doc.get("rules", [])) or None
