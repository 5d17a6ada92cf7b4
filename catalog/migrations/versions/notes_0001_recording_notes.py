"""Notes on recordings (pinned or not; also the Focus "forced comment").

Revision ID: notes_0001
Revises: spine_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "notes_0001"
down_revision = "spine_0001"
branch_labels = ("notes",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recording_notes_recording_id", "recording_notes", ["recording_id"])
    op.create_index(
        "ix_recording_notes_author", "recording_notes", ["author", "recording_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("recording_notes")
