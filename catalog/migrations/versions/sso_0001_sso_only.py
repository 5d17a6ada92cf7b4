"""Single sign-on: the per-account "SSO only" flag (the password form refuses such accounts).

Revision ID: sso_0001
Revises: spine_0001
Depends on: portal_0001 (the portal_users table)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sso_0001"
down_revision = "spine_0001"
branch_labels = ("sso",)
depends_on = "portal_0001"


def upgrade() -> None:
    op.add_column(
        "portal_users",
        sa.Column("sso_only", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("portal_users") as batch:
        batch.drop_column("sso_only")
