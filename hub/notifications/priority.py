"""Delivery order: pages and escalations first, then SLA notices, then everything else; by age
within one rank (the row id, which grows with time), never by `next_attempt_at`, so a row that
had to wait keeps its place ahead of newer rows of its rank."""

from __future__ import annotations

from sqlalchemy import case

from hub.app.models import Notification

PAGE, SLA, UPDATE = 0, 1, 2
RANKS = {
    "page": PAGE,
    "escalation": PAGE,
    "page-undeliverable": PAGE,  # the MIM must hear at once that someone was not paged
    "sla-breach": SLA,
    "sla-warning": SLA,
    "update-reminder": SLA,
}


def rank(template: str | None) -> int:
    """0 for a page or escalation, 1 for an SLA notice, 2 for stakeholder updates and the rest."""
    return RANKS.get(template or "", UPDATE)


def order_by() -> tuple:
    """The delivery order as SQL ORDER BY terms: rank, then age."""
    ranked = case(
        *[(Notification.template == name, value) for name, value in RANKS.items()], else_=UPDATE
    )
    return ranked, Notification.id
