"""Tables of self-service subscriptions (a service's or an incident's updates, by email or
Teams) and the cached members of the Entra groups that audiences name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.app.db import Base, UTCDateTime, utcnow


class Subscription(Base):
    """Someone who gets a service's or an incident's stakeholder updates.

    `target` is `service:<key>` or `incident:<id>`; `channel` email (to `address`) or teams
    (the bot's chat with `person`). `state`: pending (an email address not confirmed yet),
    active, removed. Links are derived from the secret key and `nonce` (hub.app.security), so
    the database alone opens none of them.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_target", "target", "state"),
        Index("ix_subscriptions_who", "channel", "address", "target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))  # email | teams
    address: Mapped[str] = mapped_column(String(320))  # the email address, or the person key
    person: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    nonce: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # web | console | teams
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EntraGroup(Base):
    """An Entra group an audience names: its mail address and transitive members, as Graph
    last answered (refreshed daily); `error` says why the last refresh failed."""

    __tablename__ = "entra_groups"

    ref: Mapped[str] = mapped_column(String(320), primary_key=True)  # object id or mail, lower
    group_id: Mapped[str | None] = mapped_column(String(64))
    mail: Mapped[str | None] = mapped_column(String(320))
    members: Mapped[list] = mapped_column(JSON, default=list)  # [{"id", "name", "email"}]
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
