"""Keyword triggers: matches per recording and the one-alert-per-rule-per-call ledger.

Revision ID: triggers_0001
Revises: spine_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "triggers_0001"
down_revision = "spine_0001"
branch_labels = ("triggers",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_matches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("phrase", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("speaker", sa.String(length=16), nullable=True),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("snippet", sa.Text(), nullable=False),
        sa.Column("rules_version", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_trigger_matches_recording_id", "trigger_matches", ["recording_id"], unique=False
    )
    op.create_index("ix_trigger_matches_rule", "trigger_matches", ["rule", "created_at"])
    op.create_table(
        "trigger_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("connector", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_id", "rule", "connector", name="uq_trigger_alerts_once"),
    )
    op.create_index(
        "ix_trigger_alerts_recording_id", "trigger_alerts", ["recording_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("trigger_alerts")
    op.drop_table("trigger_matches")
