"""Alembic environment: always run against the connection catalog.db hands us."""

from __future__ import annotations

from alembic import context

from catalog import tables  # noqa: F401  (registers the spine's tables)
from catalog import connector_tables  # noqa: F401  (connectors: configs, payloads)
from catalog import trigger_tables  # noqa: F401  (triggers: matches, alert ledger)
from catalog import sms_tables  # noqa: F401  (sms: messages, contacts)
from catalog import portal_tables  # noqa: F401  (portal: users, tokens, sessions, audit)
from catalog import archive_tables  # noqa: F401  (archive: ledger, progress, holds, deletions)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=tables.Base.metadata)
with context.begin_transaction():
    context.run_migrations()
