"""Directory: groups (nested), memberships, devices, per-user settings (issue 16).

Revision ID: policy_0001
Revises: spine_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "policy_0001"
down_revision = "spine_0001"
branch_labels = ("policy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dir_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_dir_groups_parent_id", "dir_groups", ["parent_id"])
    op.create_table(
        "dir_group_members",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    op.create_index("ix_dir_group_members_user_id", "dir_group_members", ["user_id"])
    op.create_table(
        "dir_devices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("sip_uri", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_dir_devices_user_id", "dir_devices", ["user_id"])
    op.create_table(
        "dir_user_settings",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("dir_user_settings")
    op.drop_table("dir_devices")
    op.drop_table("dir_group_members")
    op.drop_table("dir_groups")
