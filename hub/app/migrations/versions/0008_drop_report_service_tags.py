"""reports: drop service_tags (correlation reads service_reporters since 0007)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 10:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("service_tags")


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("service_tags", sa.String(length=1000), nullable=False, server_default="")
        )
