"""Every section of the config file, one line each (see recflow.config_file)."""

from __future__ import annotations

from recflow.account_section import AccountSection
from recflow.archive_section import ArchiveSection, RetentionSection
from recflow.connectors_section import ConnectorsSection
from recflow.recorder_section import RecorderSection
from recflow.rules_section import RulesSection
from recflow.sftp_section import SftpServerSection
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
    SftpServerSection(),
]
