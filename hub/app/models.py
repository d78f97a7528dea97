"""The database tables. The database is the source of truth for incidents, timers and the outbox."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.app.db import Base, UTCDateTime, utcnow


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32), index=True)
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    severity: Mapped[str] = mapped_column(String(32), index=True)
    rule: Mapped[str] = mapped_column(String(120), default="default")
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    services: Mapped[list] = mapped_column(JSON, default=list)
    impact: Mapped[str | None] = mapped_column(String(16))
    affected_users: Mapped[int | None] = mapped_column(Integer)
    security: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="api")
    reporter: Mapped[str | None] = mapped_column(String(320))
    summary: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[dict] = mapped_column(JSON, default=dict)  # frozen escalation/communication plan
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mobilised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="incident", order_by="TimelineEntry.id", cascade="all, delete-orphan"
    )
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="incident", order_by="RoleAssignment.id", cascade="all, delete-orphan"
    )
    timers: Mapped[list[Timer]] = relationship(
        back_populates="incident", order_by="Timer.due_at", cascade="all, delete-orphan"
    )
    notifications: Mapped[list[Notification]] = relationship(
        back_populates="incident", order_by="Notification.id", cascade="all, delete-orphan"
    )
    reports: Mapped[list[Report]] = relationship(
        back_populates="incident", order_by="Report.id", cascade="all, delete-orphan"
    )
    tasks: Mapped[list[IncidentTask]] = relationship(
        order_by="IncidentTask.n", cascade="all, delete-orphan"
    )

    @property
    def ref(self) -> str:
        """The human id, `INC-42`."""
        return f"INC-{self.id}"


class Report(Base):
    """One person's report; several can attach to one incident (storm correlation)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    reporter: Mapped[str | None] = mapped_column(String(320))
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, default="")
    services: Mapped[list] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))

    incident: Mapped[Incident | None] = relationship(back_populates="reports")


class ServiceReporter(Base):
    """Each person's latest report of each service.

    The "several reporters of one service" criterion reads this table, which has one row per
    service and reporter. Scanning every recent report instead costs more with each report
    in the window. Every report upserts its rows (`incidents.note_reporters`) in the same
    transaction.
    """

    __tablename__ = "service_reporters"
    __table_args__ = (Index("ix_service_reporters_recent", "service", "last_at"),)

    service: Mapped[str] = mapped_column(String(200), primary_key=True)
    reporter: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower case
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TimelineEntry(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="timeline")


class RoleAssignment(Base):
    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    person: Mapped[str] = mapped_column(String(120))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    incident: Mapped[Incident] = relationship(back_populates="roles")


class Timer(Base):
    """A deadline owned by the database: `due_at` is the next action; Huey only wakes us up."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    # unique and set by us, so it can order a multi-row INSERT … RETURNING (SQLAlchemy's
    # "insert sentinel"): one statement for all the timers an event schedules
    key: Mapped[str] = mapped_column(String(200), unique=True, insert_sentinel=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|fired|cancelled
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="timers")


class Notification(Base):
    """The outbox: written with the event that caused it, delivered by the worker, never twice."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # event|recipient|channel
    channel: Mapped[str] = mapped_column(String(16))  # email|teams|bot
    recipient: Mapped[str] = mapped_column(String(2000))
    template: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Delivery visibility (hub/notifications/delivery_report.py): the audience and person a
    # row is for, and the row whose one message carried it (hub/notifications/batches.py).
    audience: Mapped[str | None] = mapped_column(String(80))
    person: Mapped[str | None] = mapped_column(String(120))
    batch_id: Mapped[int | None] = mapped_column(Integer, index=True)

    incident: Mapped[Incident | None] = relationship(back_populates="notifications")


class InboundMessage(Base):
    """Every inbound message, raw, stored before it is processed."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "dedupe_key"),
        Index("ix_inbound_pending", "channel", "status"),
        Index("ix_inbound_sender", "channel", "sender", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # email|teams|bot
    dedupe_key: Mapped[str] = mapped_column(String(500))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(16), default="received")
    outcome: Mapped[str | None] = mapped_column(String(32))
    decisions: Mapped[list] = mapped_column(JSON, default=list)
    sender: Mapped[str | None] = mapped_column(String(320))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    envelope: Mapped[dict] = mapped_column(JSON, default=dict)  # how it came: via, mail_from, rcpt
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailSuppression(Base):
    """An address we no longer mail: it bounced with a permanent (5.x.x) failure."""

    __tablename__ = "email_suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)  # lower-case
    status: Mapped[str] = mapped_column(String(16))  # the DSN status, e.g. 5.1.1
    reason: Mapped[str] = mapped_column(Text, default="")
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailCursor(Base):
    """Where mailbox polling stopped: IMAP UIDVALIDITY + last UID, or a Graph delta link."""

    __tablename__ = "mail_cursors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # imap:user@host/INBOX, graph:box
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)  # IMAP numbers are 32-bit unsigned
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    delta_link: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConversationRef(Base):
    """A Teams conversation the bot may post into (channel or personal chat)."""

    __tablename__ = "conversation_refs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # person key or channel id
    service_url: Mapped[str] = mapped_column(String(500))
    conversation_id: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(Base):
    """A post-incident review, one per major incident: draft → in_review → approved → published."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic concurrency on edits
    summary: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="")
    root_causes: Mapped[str] = mapped_column(Text, default="")
    trigger: Mapped[str] = mapped_column(Text, default="")
    detection: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    contributing_factors: Mapped[str] = mapped_column(Text, default="")
    went_well: Mapped[str] = mapped_column(Text, default="")
    went_poorly: Mapped[str] = mapped_column(Text, default="")
    lucky: Mapped[str] = mapped_column(Text, default="")
    lessons: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the impact began
    affected_users: Mapped[int | None] = mapped_column(Integer)
    services: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    timeline: Mapped[list] = mapped_column(JSON, default=list)  # [{at, kind, text}], editable
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)  # derived figures, recomputed on save
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(120))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by: Mapped[str | None] = mapped_column(String(120))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(120))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    publish_error: Mapped[str | None] = mapped_column(Text)

    incident: Mapped[Incident] = relationship()
    action_items: Mapped[list[ActionItem]] = relationship(
        back_populates="review", order_by="ActionItem.id", cascade="all, delete-orphan"
    )


class ActionItem(Base):
    """A follow-up of a review, tracked to done (reminders when overdue)."""

    __tablename__ = "action_items"
    __table_args__ = (Index("ix_action_items_open", "status", "due"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str | None] = mapped_column(String(320))  # person key, else free text
    due: Mapped[date | None] = mapped_column(Date)
    priority: Mapped[str] = mapped_column(String(8), default="P2")
    status: Mapped[str] = mapped_column(String(16), default="open")
    ticket: Mapped[str | None] = mapped_column(String(500))  # an http(s) link
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    review: Mapped[Review] = relationship(back_populates="action_items")


class Problem(Base):
    """The root cause behind one or more incidents; `known_error` once a workaround is documented."""

    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    workaround: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    known_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    links: Mapped[list[ProblemLink]] = relationship(
        back_populates="problem", order_by="ProblemLink.id", cascade="all, delete-orphan"
    )

    @property
    def ref(self) -> str:
        """The human id, `PRB-7`."""
        return f"PRB-{self.id}"


class ProblemLink(Base):
    """A problem linked to an incident it caused."""

    __tablename__ = "problem_incidents"
    __table_args__ = (UniqueConstraint("problem_id", "incident_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    linked_by: Mapped[str | None] = mapped_column(String(120))

    problem: Mapped[Problem] = relationship(back_populates="links")
    incident: Mapped[Incident] = relationship()


class WebSession(Base):
    """A web console sign-in; the cookie holds the token, the table its hash, expiry and end."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person: Mapped[str] = mapped_column(String(120), index=True)
    method: Mapped[str] = mapped_column(String(16))  # link | entra
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInLink(Base):
    """A one-time sign-in link mailed to a person: stored hashed, used once, short-lived."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person: Mapped[str] = mapped_column(String(120), index=True)
    next_url: Mapped[str] = mapped_column(String(500), default="/")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActionLink(Base):
    """A signed page link (acknowledge or take over) that was used: each works once."""

    __tablename__ = "action_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)  # the link's own random part
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    person: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(16))  # acknowledge | take-over
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(Text, default="")  # what the use did, said again later


class IncidentTask(Base):
    """One task of a role's checklist (or a runbook step) on one incident, numbered from 1."""

    __tablename__ = "incident_tasks"
    __table_args__ = (UniqueConstraint("incident_id", "n"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    n: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(16))  # checklist | runbook
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditRecord(Base):
    """Append-only: who changed what, when, from where, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(300))
    source: Mapped[str | None] = mapped_column(String(100))  # the client's address, or "cli"
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    incident_id: Mapped[int | None] = mapped_column(Integer)


# Monitoring alerts and on-call schedules live in their own modules (this one stays readable);
# imported here so that `hub.app.models` names every table.
from hub.app.alert_models import Alert, AlertGroup  # noqa: E402, F401
from hub.app.draft_models import UpdateDraft  # noqa: E402, F401
from hub.app.schedule_models import CalendarFeed, IncidentMeeting, ScheduleOverride  # noqa: E402, F401
from hub.app.status_models import Maintenance  # noqa: E402, F401
from hub.app.subscription_models import EntraGroup, Subscription  # noqa: E402, F401

# The email intake's per-message lookups (0260): acknowledgements sent to an address in the
# last hour (hub/intake/email/effect.py) and the reports a sender's messages made
# (hub/intake/email/trust.py). An expression index: SQLite and PostgreSQL both have them.
Index(
    "ix_notifications_recipient_lower",
    func.lower(Notification.recipient),
    Notification.template,
    Notification.created_at,
)
Index("ix_reports_inbound_id", Report.inbound_id)
