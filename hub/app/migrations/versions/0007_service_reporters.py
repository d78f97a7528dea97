"""correlation: each person's latest report of each service

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import hub.app.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "service_reporters",
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("reporter", sa.String(length=320), nullable=False),
        sa.Column("last_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("service", "reporter"),
    )
    with op.batch_alter_table("service_reporters", schema=None) as batch_op:
        batch_op.create_index("ix_service_reporters_recent", ["service", "last_at"], unique=False)

    # Fill it from the reports already stored: the latest report per service and reporter.
    reports = sa.table(
        "reports",
        sa.column("reporter", sa.String),
        sa.column("service_tags", sa.String),
        sa.column("at", hub.app.db.UTCDateTime()),
    )
    latest: dict[tuple[str, str], object] = {}
    rows = op.get_bind().execute(
        sa.select(reports.c.reporter, reports.c.service_tags, sa.func.max(reports.c.at))
        .where(reports.c.reporter.is_not(None), reports.c.service_tags != "")
        .group_by(reports.c.reporter, reports.c.service_tags)
    )
    for reporter, tags, at in rows:
        for service in filter(None, tags.split("|")):
            key = (service[:200], reporter.lower()[:320])
            if key not in latest or latest[key] < at:
                latest[key] = at
    if latest:
        op.bulk_insert(
            table, [{"service": s, "reporter": r, "last_at": at} for (s, r), at in latest.items()]
        )


def downgrade() -> None:
    with op.batch_alter_table("service_reporters", schema=None) as batch_op:
        batch_op.drop_index("ix_service_reporters_recent")
    op.drop_table("service_reporters")
