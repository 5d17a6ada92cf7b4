"""Archive ledger, archive progress, retention holds and the retention deletion log.

Revision ID: archive_0001
Revises: spine_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "archive_0001"
down_revision = "spine_0001"
branch_labels = ("archive",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_objects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("archive", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("connector", sa.String(128), nullable=False),
        sa.Column("recording_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(128), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("archive", "role", "recording_id", "name", name="uq_archive_object"),
    )
    op.create_index("ix_archive_objects_recording_id", "archive_objects", ["recording_id"])
    op.create_table(
        "archive_done",
        sa.Column("archive", sa.String(128), primary_key=True),
        sa.Column("recording_id", sa.String(36), primary_key=True),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moved", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "retention_holds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recording_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(320), nullable=False),
    )
    op.create_index(
        "ix_retention_holds_recording", "retention_holds", ["recording_id", "released_at"]
    )
    op.create_table(
        "retention_deletions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recording_id", sa.String(36), nullable=False),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("from_number", sa.String(64), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("retention_group", sa.String(128), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_retention_deletions_recording_id", "retention_deletions", ["recording_id"])
    op.create_index("ix_retention_deletions_deleted_at", "retention_deletions", ["deleted_at"])


def downgrade() -> None:
    for table in ("retention_deletions", "retention_holds", "archive_done", "archive_objects"):
        op.drop_table(table)
