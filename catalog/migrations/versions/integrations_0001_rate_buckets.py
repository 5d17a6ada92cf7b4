"""Integrations: one token bucket per connector (proactive rate limits shared by all workers).

Revision ID: integrations_0001
Revises: connectors_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "integrations_0001"
down_revision = "connectors_0001"
branch_labels = ("integrations",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_rate_buckets",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("connector_rate_buckets")
