"""Tables of on-call schedules and meetings: run-time overrides, calendar feeds, the incident's
Teams meeting (the bridge) and review meeting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.app.db import Base, UTCDateTime, utcnow


class ScheduleOverride(Base):
    """A shift taken or swapped at run time: `person` is on call for `schedule` from start to end.

    `state`: proposed (a swap offered, waiting for the person to accept), active, removed.
    """

    __tablename__ = "schedule_overrides"
    __table_args__ = (Index("ix_schedule_overrides_window", "schedule", "state", "end_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule: Mapped[str] = mapped_column(String(120))
    person: Mapped[str] = mapped_column(String(120))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CalendarFeed(Base):
    """The generation of an iCalendar feed's signed URL: bumping it revokes the old URL."""

    __tablename__ = "calendar_feeds"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)  # schedule:X, person:Y
    generation: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncidentMeeting(Base):
    """A calendar event the hub creates through Graph: the bridge, or the review meeting.

    The row is written (with its transactionId) before Graph is called, so a retry or a
    worker that died mid-call sends the same transactionId and Graph answers with the same
    event instead of a second one.
    """

    __tablename__ = "incident_meetings"
    __table_args__ = (UniqueConstraint("incident_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # bridge | review
    transaction_id: Mapped[str] = mapped_column(String(120), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|created|failed
    event_id: Mapped[str | None] = mapped_column(String(500))
    join_url: Mapped[str | None] = mapped_column(String(1000))
    attendees: Mapped[list] = mapped_column(JSON, default=list)  # person keys invited
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Monitoring alerts live in their own module (this one stays readable); imported here so that
# `hub.app.models` names every table.
from hub.app.alert_models import Alert, AlertGroup  # noqa: E402, F401
