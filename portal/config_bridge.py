"""The portal edits configuration through the very Section objects `recflow config apply` uses
(services.config.document): one source of truth, so `config export` always shows portal edits and
the portal can never store something the file could not say."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from catalog.audit import FieldChange, diff
from catalog.repository import Catalog
from services.config.base import ConfigFileError, Section
from services.config.document import apply_document, sections


@dataclass(frozen=True)
class SectionView:
    key: str
    title: str
    yaml_text: str


TITLES = {
    "account": "Account",
    "connectors": "Connectors",
    "rules": "Keyword rules",
    "archive": "Archive destinations and schedules",
    "retention": "Retention groups",
    "sms": "SMS-to-email",
    "contacts": "Contacts (known names)",
    "recording": "Recording settings (account / user / device)",
    "reviews": "Communication review templates",
    "groups": "Groups (nested one level)",
    "users": "People (roles, groups, numbers; no passwords)",
    "devices": "Devices and extensions",
    "recording_policy": "Recording policy (account / user / device)",
    "reports": "Scheduled call reports",
}


def section(key: str) -> Section | None:
    return next((s for s in sections() if s.key == key), None)


def export_section(catalog: Catalog, key: str) -> Any:
    sec = section(key)
    return sec.export(catalog) if sec else None


def views(catalog: Catalog) -> list[SectionView]:
    out = []
    for sec in sections():
        value = sec.export(catalog)
        text = (
            yaml.safe_dump({sec.key: value}, sort_keys=False, allow_unicode=True)
            if value is not None
            else f"{sec.key}:\n"
        )
        out.append(SectionView(sec.key, TITLES.get(sec.key, sec.key.title()), text))
    return out


@dataclass(frozen=True)
class ApplyOutcome:
    ok: bool
    changes: list[str]
    diff: list[FieldChange]
    problems: list[tuple[str, str]]


def apply_section(catalog: Catalog, key: str, value: Any) -> ApplyOutcome:
    """Validate and apply one section; the diff (for the audit trail) is taken between the
    section's exports before and after, so secrets appear only as their references/masks."""
    before = export_section(catalog, key)
    try:
        changes = apply_document(catalog, {key: value})
    except ConfigFileError as e:
        return ApplyOutcome(False, [], [], e.problems)
    after = export_section(catalog, key)
    return ApplyOutcome(True, changes, diff(before, after, key), [])


def apply_yaml(catalog: Catalog, key: str, text: str) -> ApplyOutcome:
    try:
        doc = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        return ApplyOutcome(False, [], [], [(key, f"not valid YAML: {e}")])
    if isinstance(doc, dict) and set(doc) == {key}:
        doc = doc[key]  # the editor shows "key:" at the top; accept it back either way
    return apply_section(catalog, key, doc)
