"""The table of stakeholder updates waiting for approval (hub/incidents/drafts.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.app.db import Base, UTCDateTime, utcnow


class UpdateDraft(Base):
    """A stakeholder update someone other than its approver posted: it waits for approval.

    `request`: the whole update request as posted (`text` and whatever else an update carries),
    changed by edits; `state`: awaiting, approved (then `entry_id` is the update it became),
    discarded.
    """

    __tablename__ = "update_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    author: Mapped[str] = mapped_column(String(120))
    request: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="awaiting")
    approver_role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edits: Mapped[int] = mapped_column(Integer, default=0)
    edited_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    entry_id: Mapped[int | None] = mapped_column(Integer)  # the timeline update it became
