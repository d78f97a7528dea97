"""status page: maintenance windows

Revision ID: 0220
Revises: 0210
Create Date: 2026-12-06 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hub.app.db

revision = "0220"
down_revision = "0240"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_maintenance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("start_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("end_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("public_text", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("cancelled_by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_status_maintenance_window", "status_maintenance", ["state", "end_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_status_maintenance_window", table_name="status_maintenance")
    op.drop_table("status_maintenance")
