"""self-service subscriptions and the Entra group cache

Revision ID: 0230
Revises: 0210
Create Date: 2026-12-06 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hub.app.db

revision = "0230"
down_revision = "0210"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("person", sa.String(length=120), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("removed_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscriptions_target", "subscriptions", ["target", "state"])
    op.create_index("ix_subscriptions_who", "subscriptions", ["channel", "address", "target"])
    op.create_table(
        "entra_groups",
        sa.Column("ref", sa.String(length=320), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("mail", sa.String(length=320), nullable=True),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("fetched_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("ref"),
    )


def downgrade() -> None:
    op.drop_table("entra_groups")
    op.drop_index("ix_subscriptions_who", table_name="subscriptions")
    op.drop_index("ix_subscriptions_target", table_name="subscriptions")
    op.drop_table("subscriptions")
