"""The whole config file: every section; apply (validate all, then change) and export."""

from __future__ import annotations

from typing import Any

from catalog.repository import Catalog
from services.config.account_section import AccountSection
from services.config.archive_section import ArchiveSection, RetentionSection
from services.config.base import ApplyContext, ConfigFileError, Section
from services.config.categories_section import CategoriesSection, CustomFieldsSection
from services.config.connectors_section import ConnectorsSection
from services.config.directory_section import SECTIONS as DIRECTORY_SECTIONS
from services.config.oidc_section import OidcSection
from services.config.recorder_section import RecorderSection
from services.config.reports_section import ReportsSection
from services.config.reviews_section import ReviewsSection
from services.config.rules_section import RulesSection
from services.config.sftp_section import SftpServerSection
from services.config.sms_section import ContactsSection, SmsSection
from services.config.transcription_section import TranscriptionSection

SECTIONS: list[Section] = [
    AccountSection(),
    ConnectorsSection(),
    RulesSection(),
    SmsSection(),
    ContactsSection(),
    RecorderSection(),
    ArchiveSection(),
    RetentionSection(),
    ReviewsSection(),
    ReportsSection(),
    SftpServerSection(),
    OidcSection(),
    TranscriptionSection(),
    CategoriesSection(),
    CustomFieldsSection(),
    *DIRECTORY_SECTIONS,  # groups, users, devices, recording_policy
]


def sections() -> list[Section]:
    return sorted(SECTIONS, key=lambda s: s.order)


def apply_document(catalog: Catalog, doc: dict[str, Any], *, dry_run: bool = False) -> list[str]:
    ctx = ApplyContext(catalog=catalog, document=doc)
    known = {s.key: s for s in sections()}
    problems: list[tuple[str, str]] = [
        (key, f"unknown section (known: {', '.join(sorted(known))})")
        for key in doc
        if key not in known
    ]
    for section in sections():
        if section.key not in doc:
            continue
        try:
            ctx.parsed[section.key] = section.validate(doc[section.key], ctx)
        except ConfigFileError as e:
            problems.extend(e.problems)
    if problems:
        raise ConfigFileError(problems)
    if dry_run:
        # the real apply, rolled back: what it reports is exactly what a real apply would do
        with catalog.db.rehearsal():
            return _apply_sections(ctx)
    with catalog.db.one_transaction():
        return _apply_sections(ctx)


def _apply_sections(ctx: ApplyContext) -> list[str]:
    changes: list[str] = []
    for section in sections():
        if section.key in ctx.parsed:
            changes.extend(section.apply(ctx.parsed[section.key], ctx))
    return changes


def export_document(catalog: Catalog) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section in sections():
        value = section.export(catalog)
        if value is not None:
            out[section.key] = value
    return out
