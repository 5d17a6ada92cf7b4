"""Every section of the config file, one line each (see recflow.config_file)."""

from __future__ import annotations

from recflow.account_section import AccountSection
from recflow.archive_section import ArchiveSection, RetentionSection
from recflow.connectors_section import ConnectorsSection
from recflow.recorder_section import RecorderSection
from recflow.reports_section import ReportsSection
from recflow.reviews_section import ReviewsSection
from recflow.rules_section import RulesSection
from recflow.sms_section import ContactsSection, SmsSection

SECTIONS = [
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
]
