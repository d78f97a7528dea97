"""update_drafts: stakeholder updates waiting for the Communications Owner's approval

Revision ID: 0240
Revises: 0210
Create Date: 2026-12-06 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hub.app.db

revision = "0240"
down_revision = "0230"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "update_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("approver_role", sa.String(length=40), nullable=False),
        sa.Column("created_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("edits", sa.Integer(), nullable=False),
        sa.Column("edited_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("update_drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_update_drafts_incident_id"), ["incident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("update_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_update_drafts_incident_id"))
    op.drop_table("update_drafts")
