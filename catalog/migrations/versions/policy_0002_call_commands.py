"""Start/stop recording of live calls asked through the API (issue 16).

Revision ID: policy_0002
Revises: policy_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "policy_0002"
down_revision = "policy_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dir_call_commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dir_call_commands_call_id", "dir_call_commands", ["call_id"])
    op.create_index("ix_dir_call_commands_done_at", "dir_call_commands", ["done_at"])


def downgrade() -> None:
    op.drop_table("dir_call_commands")
