"""Helpers for the email intake tests: a hub with mail settings, and feeding it messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.app.models import InboundMessage, Incident, Notification
from hub.intake.email.pipeline import process
from hub.intake.email.store import store_raw
from tests.conftest import build_hub
from tests.email_corpus import DOMAIN, World, mail, raw

SECRET = "corpus-secret"
T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
MAIL_SETTINGS = {
    "HUB_SECRET_KEY": SECRET,
    "HUB_MAIL_FROM": f"Major Incident Hub <incidents@{DOMAIN}>",
    "HUB_MAIL_TRUSTED_AUTHSERV_IDS": f"mx.{DOMAIN}",
    "HUB_BASE_URL": "https://hub.northwind.example",
}


def make_hub(backend, policy, **overrides):
    """A Hub on the test backend with the mail settings (queue calls recorded, not run)."""
    return build_hub(backend, policy, **{**MAIL_SETTINGS, **overrides})


def feed(hub, data: bytes, now: datetime = T0, envelope: dict | None = None, **kw):
    """Store and process one message; returns (result, stored row)."""
    with hub.transaction() as session:
        ident = store_raw(session, data, via="test", now=now, envelope=envelope).id
    result = process(hub, ident, now, **kw)
    with hub.db.session(write=False) as session:
        return result, session.get(InboundMessage, ident)


def seed_world(hub, now: datetime = T0) -> World:
    """Ben reports payroll down (SEV1, Anna is MIM); the world the corpus refers to."""
    result, _row = feed(hub, raw(mail("Payroll is down", "Payroll is down for everyone.")), now)
    assert result.outcome == "created", result
    number = int(result.incident.removeprefix("INC-"))
    with hub.db.session(write=False) as session:
        key = session.scalars(
            select(Notification.key).where(
                Notification.incident_id == number,
                Notification.channel == "email",
                Notification.recipient == f"anna.schmidt@{DOMAIN}",
            )
        ).first()
    assert key, "the MIM was paged by email"
    return World(SECRET, number, key)


def incident(hub, number: int) -> Incident:
    """The incident with its timeline, roles, reports and notifications loaded, detached: the
    session is closed (an open one would hold a transaction, and PostgreSQL's TRUNCATE of the
    next test would wait for it forever)."""
    session = hub.db.sessionmaker()
    try:
        found = session.get(Incident, number)
        if found is not None:
            for name in ("timeline", "roles", "reports", "notifications"):
                getattr(found, name, None)
        return found
    finally:
        session.close()


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
