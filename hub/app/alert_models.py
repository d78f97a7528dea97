"""Tables of monitoring alerts: a source's notification groups and their alerts by identity."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.app.db import Base, UTCDateTime, utcnow


class AlertGroup(Base):
    """One notification group of a monitoring source (Alertmanager groupKey, one Azure alert):
    one report, whatever the number of alerts and re-sends."""

    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)  # source|name|receiver|groupKey
    source: Mapped[str] = mapped_column(String(16))  # alertmanager|grafana|azure-monitor
    source_name: Mapped[str] = mapped_column(String(120))  # the token's source
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    service: Mapped[str | None] = mapped_column(String(200))
    impact: Mapped[str | None] = mapped_column(String(16))
    rule: Mapped[str | None] = mapped_column(String(120))  # the policy's alerts rule, if any
    state: Mapped[str] = mapped_column(String(16), default="firing")  # firing|resolved
    receipts: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    noted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # new alerts last on timeline
    unnoted: Mapped[int] = mapped_column(Integer, default=0)  # new alerts since then


class Alert(Base):
    """One alert by its identity (receiver + fingerprint, or Azure's alertId), never its text."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity: Mapped[str] = mapped_column(String(500), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_groups.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(16))  # firing|resolved
    summary: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict] = mapped_column(JSON, default=dict)
    link: Mapped[str | None] = mapped_column(String(2000))  # generatorURL / Azure portal
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    receipts: Mapped[int] = mapped_column(Integer, default=1)
    fired: Mapped[int] = mapped_column(Integer, default=1)  # times it went to firing
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
