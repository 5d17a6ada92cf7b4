"""Work items: SMS claims use the same lease rule as recordings (``claimed_by`` + worker heartbeat).

Revision ID: spine_0002
Revises: sms_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "spine_0002"
down_revision = "sms_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch:
        batch.drop_column("claimed_by")
