"""schedules: overrides and swaps, calendar feed generations; meetings created through Graph

Revision ID: 0180
Revises: 0008
Create Date: 2026-12-06 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hub.app.db

revision = "0180"
down_revision = "0190"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(length=120), nullable=False),
        sa.Column("person", sa.String(length=120), nullable=False),
        sa.Column("start_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("end_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("removed_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_schedule_overrides_window", "schedule_overrides", ["schedule", "state", "end_at"]
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "incident_meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=500), nullable=True),
        sa.Column("join_url", sa.String(length=1000), nullable=True),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("start_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("end_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "kind"),
        sa.UniqueConstraint("transaction_id"),
    )
    op.create_index("ix_incident_meetings_incident_id", "incident_meetings", ["incident_id"])


def downgrade() -> None:
    op.drop_table("incident_meetings")
    op.drop_table("calendar_feeds")
    op.drop_index("ix_schedule_overrides_window", table_name="schedule_overrides")
    op.drop_table("schedule_overrides")
