"""email intake lookups: outbox rows by lower(recipient), reports by their inbound message

Revision ID: 0260
Revises: 0250
Create Date: 2026-12-06 16:20:00.000000

`ix_notifications_recipient_lower` (an expression index, which SQLite and PostgreSQL both
have): the acknowledgements sent to an address in the last hour. `ix_reports_inbound_id`: the
reports a sender's recent messages made (the per-sender rate). Both were full scans that grew
with the outbox and the report history.
"""

import sqlalchemy as sa
from alembic import op

revision = "0260"
down_revision = "0250"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_recipient_lower",
        "notifications",
        [sa.text("lower(recipient)"), "template", "created_at"],
    )
    op.create_index("ix_reports_inbound_id", "reports", ["inbound_id"])


def downgrade() -> None:
    op.drop_index("ix_reports_inbound_id", table_name="reports")
    op.drop_index("ix_notifications_recipient_lower", table_name="notifications")
