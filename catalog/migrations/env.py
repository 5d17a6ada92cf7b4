"""Alembic environment: always run against the connection catalog.db hands us."""

from __future__ import annotations

from alembic import context

from catalog import (
    archive_tables,  # noqa: F401  (archive: ledger, progress, holds, deletions)
    connector_tables,  # noqa: F401  (connectors: configs, payloads)
    portal_tables,  # noqa: F401  (portal: users, tokens, sessions, audit)
    rate_limits,  # noqa: F401  (integrations: per-connector token buckets)
    sms_tables,  # noqa: F401  (sms: messages, contacts)
    tables,  # the spine; its metadata is the target
    trigger_tables,  # noqa: F401  (triggers: matches, alert ledger)
)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=tables.Base.metadata)
with context.begin_transaction():
    context.run_migrations()
