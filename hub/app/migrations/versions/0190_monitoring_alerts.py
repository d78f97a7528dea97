"""monitoring alerts: alert groups (one report each) and alerts by identity

Revision ID: 0190
Revises: 0008
Create Date: 2026-12-06 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hub.app.db

revision = "0190"
down_revision = "0130"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_name", sa.String(length=120), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=True),
        sa.Column("impact", sa.String(length=16), nullable=True),
        sa.Column("rule", sa.String(length=120), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("receipts", sa.Integer(), nullable=False),
        sa.Column("first_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("last_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("noted_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("unnoted", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("alert_groups", schema=None) as batch_op:
        batch_op.create_index("ix_alert_groups_incident_id", ["incident_id"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=500), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("fingerprint", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("starts_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("ends_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("first_seen", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("receipts", sa.Integer(), nullable=False),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["alert_groups.id"]),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("identity"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_group_id", ["group_id"], unique=False)
        batch_op.create_index("ix_alerts_incident_id", ["incident_id"], unique=False)


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("alert_groups")
