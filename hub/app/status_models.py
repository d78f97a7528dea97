"""Tables of the status page: maintenance windows the Communications Owner or an admin sets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.app.db import Base, UTCDateTime, utcnow


class Maintenance(Base):
    """Planned work on catalogue services from `start_at` to `end_at`.

    `text` is for staff; `public_text`, when set, is what the public status page says (no
    public text: the window is shown on the internal page only). `state`: scheduled | cancelled.
    """

    __tablename__ = "status_maintenance"
    __table_args__ = (Index("ix_status_maintenance_window", "state", "end_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    services: Mapped[list] = mapped_column(JSON, default=list)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text, default="")
    public_text: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_by: Mapped[str | None] = mapped_column(String(120))
