"""Access: index on recordings.ended_at (the hosted SFTP tree files calls by their end day).

Revision ID: access_0001
Revises: spine_0001
"""

from __future__ import annotations

from alembic import op

revision = "access_0001"
down_revision = "spine_0001"
branch_labels = ("access",)
depends_on = None


def upgrade() -> None:
    op.create_index("ix_recordings_ended_id", "recordings", ["ended_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_recordings_ended_id", table_name="recordings")
