"""Connectors: configured connectors (secrets encrypted) and delivery payloads.

Revision ID: connectors_0001
Revises: spine_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "connectors_0001"
down_revision = "spine_0001"
branch_labels = ("connectors",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("on", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("refs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "delivery_payloads",
        sa.Column("idempotency_key", sa.String(length=512), nullable=False),
        sa.Column("capability", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("delivery_payloads")
    op.drop_table("connectors")
