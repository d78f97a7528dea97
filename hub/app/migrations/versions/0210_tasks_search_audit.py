"""incident tasks (checklists and runbooks), full-text search, the audit log

Revision ID: 0210
Revises: 0008
Create Date: 2026-12-06 12:00:00.000000

Search: on SQLite an FTS5 table `incident_fts` kept by triggers (an incident's title,
description and summary at rowid -id; its updates and comments at the timeline entry's id;
its review at rowid -(10^12 + review id)); on PostgreSQL GIN indexes over `to_tsvector`
of the same columns (hub/incidents/search.py queries both).
"""

import sqlalchemy as sa
from alembic import op

import hub.app.db

revision = "0210"
down_revision = "0180"
branch_labels = None
depends_on = None

REVIEW_TEXT = (
    "coalesce(NEW.summary,'')||' '||coalesce(NEW.impact,'')||' '||coalesce(NEW.root_causes,'')"
    "||' '||coalesce(NEW.trigger,'')||' '||coalesce(NEW.detection,'')||' '||"
    "coalesce(NEW.resolution,'')||' '||coalesce(NEW.lessons,'')||' '||"
    "coalesce(NEW.went_well,'')||' '||coalesce(NEW.went_poorly,'')"
)
INCIDENT_TEXT = (
    "coalesce(NEW.title,'')||' '||coalesce(NEW.description,'')||' '||coalesce(NEW.summary,'')"
)
SEARCHED_KINDS = "('update', 'comment')"
REVIEW_ROWID = 1_000_000_000_000
PG_REVIEW_TEXT = REVIEW_TEXT.replace("NEW.", "")
PG_INCIDENT_TEXT = INCIDENT_TEXT.replace("NEW.", "")

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER incident_fts_ai AFTER INSERT ON incidents BEGIN
        INSERT INTO incident_fts(rowid, body, incident_id) VALUES (-NEW.id, {INCIDENT_TEXT}, NEW.id);
    END""",
    f"""CREATE TRIGGER incident_fts_au AFTER UPDATE OF title, description, summary ON incidents
    BEGIN
        DELETE FROM incident_fts WHERE rowid = -OLD.id;
        INSERT INTO incident_fts(rowid, body, incident_id) VALUES (-NEW.id, {INCIDENT_TEXT}, NEW.id);
    END""",
    """CREATE TRIGGER incident_fts_ad AFTER DELETE ON incidents BEGIN
        DELETE FROM incident_fts WHERE rowid = -OLD.id;
    END""",
    f"""CREATE TRIGGER timeline_fts_ai AFTER INSERT ON timeline
    WHEN NEW.kind IN {SEARCHED_KINDS} BEGIN
        INSERT INTO incident_fts(rowid, body, incident_id) VALUES (NEW.id, NEW.text, NEW.incident_id);
    END""",
    f"""CREATE TRIGGER review_fts_ai AFTER INSERT ON reviews BEGIN
        INSERT INTO incident_fts(rowid, body, incident_id)
        VALUES (-({REVIEW_ROWID} + NEW.id), {REVIEW_TEXT}, NEW.incident_id);
    END""",
    f"""CREATE TRIGGER review_fts_au AFTER UPDATE ON reviews BEGIN
        DELETE FROM incident_fts WHERE rowid = -({REVIEW_ROWID} + OLD.id);
        INSERT INTO incident_fts(rowid, body, incident_id)
        VALUES (-({REVIEW_ROWID} + NEW.id), {REVIEW_TEXT}, NEW.incident_id);
    END""",
    f"""CREATE TRIGGER review_fts_ad AFTER DELETE ON reviews BEGIN
        DELETE FROM incident_fts WHERE rowid = -({REVIEW_ROWID} + OLD.id);
    END""",
]


def upgrade() -> None:
    op.create_table(
        "incident_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("due_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("done_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.String(length=120), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reminded_at", hub.app.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "n"),
    )
    op.create_index("ix_incident_tasks_incident_id", "incident_tasks", ["incident_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", hub.app.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE incident_fts USING fts5(body, incident_id UNINDEXED)")
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN "
            "SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )
        plain = INCIDENT_TEXT.replace("NEW.", "")
        op.execute(
            f"INSERT INTO incident_fts(rowid, body, incident_id) SELECT -id, {plain}, id FROM incidents"
        )
        op.execute(
            "INSERT INTO incident_fts(rowid, body, incident_id) SELECT id, text, incident_id "
            f"FROM timeline WHERE kind IN {SEARCHED_KINDS}"
        )
        op.execute(
            "INSERT INTO incident_fts(rowid, body, incident_id) "
            f"SELECT -({REVIEW_ROWID} + id), {PG_REVIEW_TEXT}, incident_id FROM reviews"
        )
    elif bind.dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_incidents_fts ON incidents "
            f"USING gin (to_tsvector('simple', {PG_INCIDENT_TEXT}))"
        )
        op.execute(
            "CREATE INDEX ix_timeline_fts ON timeline USING gin (to_tsvector('simple', text)) "
            f"WHERE kind IN {SEARCHED_KINDS}"
        )
        op.execute(
            f"CREATE INDEX ix_reviews_fts ON reviews USING gin (to_tsvector('simple', {PG_REVIEW_TEXT}))"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in (
            "incident_fts_ai",
            "incident_fts_au",
            "incident_fts_ad",
            "timeline_fts_ai",
            "review_fts_ai",
            "review_fts_au",
            "review_fts_ad",
            "audit_log_no_update",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS incident_fts")
    elif bind.dialect.name == "postgresql":
        for name in ("ix_incidents_fts", "ix_timeline_fts", "ix_reviews_fts"):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_incident_tasks_incident_id", table_name="incident_tasks")
    op.drop_table("incident_tasks")
