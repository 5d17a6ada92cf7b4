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
    # the dashboard and reports aggregate over a period, for everyone (by start time) or for
    # a viewer's numbers (by caller, by callee): covering indexes, so an aggregate reads only
    # the index, never the table (benchmarks/quality_bench.py)
    rest = ["direction", "duration_seconds", "private"]
    op.create_index("ix_recordings_q_started", "recordings", ["started_at", *rest])
    op.create_index(
        "ix_recordings_q_from", "recordings", ["from_number", "started_at", *rest, "to_number"]
    )
    op.create_index(
        "ix_recordings_q_to", "recordings", ["to_number", "started_at", *rest, "from_number"]
    )


def downgrade() -> None:
    for name in ("ix_recordings_q_started", "ix_recordings_q_from", "ix_recordings_q_to"):
        op.drop_index(name, "recordings")
    op.drop_table("recording_manifests")
