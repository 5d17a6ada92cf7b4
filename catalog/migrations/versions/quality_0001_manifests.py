"""Quality: signed, chained manifests of recordings (tamper evidence).

Revision ID: quality_0001
Revises: spine_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "quality_0001"
down_revision = "spine_0001"
branch_labels = ("quality",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording_manifests",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("recording_id", sa.String(36), nullable=False, unique=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    # the dashboard and reports aggregate by period and direction
    op.create_index("ix_recordings_started_direction", "recordings", ["started_at", "direction"])


def downgrade() -> None:
    op.drop_index("ix_recordings_started_direction", "recordings")
    op.drop_table("recording_manifests")
