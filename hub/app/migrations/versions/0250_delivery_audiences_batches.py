"""delivery visibility: who an outbox row is for (audience, person) and the batch it went in

Revision ID: 0250
Revises: 0210
Create Date: 2026-12-06 15:00:00.000000

`audience`: the policy audience (or `responders`, `subscribers`) a row delivers to, for the
per-update delivery summary; `person`: the person a row reaches (pages); `batch_id`: the outbox
row whose one message (BCC or a multi-recipient SMTP envelope) carried this recipient.
"""

import sqlalchemy as sa
from alembic import op

revision = "0250"
down_revision = "0220"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("audience", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("person", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch.create_index("ix_notifications_batch_id", ["batch_id"])


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_batch_id")
        batch.drop_column("batch_id")
        batch.drop_column("person")
        batch.drop_column("audience")
