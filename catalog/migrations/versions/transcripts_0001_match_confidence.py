"""Keyword matches carry the confidence of the words that made them.

Revision ID: transcripts_0001
Revises: triggers_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "transcripts_0001"
down_revision = "triggers_0001"
branch_labels = ("transcripts",)
depends_on = None


def upgrade() -> None:
    op.add_column("trigger_matches", sa.Column("confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trigger_matches") as batch:
        batch.drop_column("confidence")
