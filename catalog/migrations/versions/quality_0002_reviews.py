"""Quality: completed communication reviews with scores (agent evaluation).

Revision ID: quality_0002
Revises: quality_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "quality_0002"
down_revision = "quality_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(36), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("author", sa.String(320), nullable=False),
        sa.Column("agent", sa.String(320), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recording_reviews_recording_id", "recording_reviews", ["recording_id"])
    op.create_index("ix_recording_reviews_author", "recording_reviews", ["author", "recording_id"])
    op.create_index("ix_recording_reviews_agent", "recording_reviews", ["agent", "created_at"])


def downgrade() -> None:
    op.drop_table("recording_reviews")
