"""SMS: messages and the contacts directory.

Revision ID: sms_0001
Revises: spine_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sms_0001"
down_revision = "spine_0001"
branch_labels = ("sms",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("subscriber", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(64), nullable=False),
        sa.Column("from_name", sa.String(255), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("to_name", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("flow_run_id", sa.String(36), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("status_changed_at", TS, nullable=False),
        sa.Column("processed_at", TS, nullable=True),
    )
    op.create_index("ix_sms_messages_subscriber", "sms_messages", ["subscriber"])
    op.create_index("ix_sms_messages_from_number", "sms_messages", ["from_number"])
    op.create_index("ix_sms_messages_to_number", "sms_messages", ["to_number"])
    op.create_index("ix_sms_messages_received_at", "sms_messages", ["received_at"])
    op.create_index("ix_sms_messages_status_created", "sms_messages", ["status", "created_at"])
    op.create_table(
        "sms_contacts",
        sa.Column("number_key", sa.String(64), primary_key=True),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sms_contacts")
    op.drop_table("sms_messages")
