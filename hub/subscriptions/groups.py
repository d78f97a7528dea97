"""Entra groups named by audiences (`group:<object id or mail>`): who a notice reaches there.

An audience with `expand: true` reaches each transitive member of its groups by their own
address (one message each: per-person delivery, its own idempotency key); without it, one
message goes to the group's address. Graph is asked once per group and the answer is kept in
the `entra_groups` table, refreshed after HUB_GROUP_REFRESH (a day) by the worker's periodic
task, so a notice costs no Graph call. A group never fetched is fetched when a notice first
needs it; when Graph cannot answer, the group's address (if known) gets the notice instead.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.models import EntraGroup
from hub.app.settings import Settings
from hub.channels.base import DeliveryError
from hub.channels.entra_groups import groups_client
from hub.notifications.notices import Recipient
from hub.policy.model import Policy

log = logging.getLogger("hub.notifications.groups")


def group_refs(policy: Policy) -> list[str]:
    """Every group the policy's audiences name, each once."""
    return list(dict.fromkeys(ref for a in policy.audiences.values() for ref in a.groups))


def refresh_group(
    session: Session, settings: Settings, ref: str, now: datetime, *, client=None
) -> EntraGroup:
    """Ask Graph for the group's address and transitive members and keep the answer; a failure
    keeps the members last known and records the error."""
    row = session.get(EntraGroup, ref) or EntraGroup(ref=ref, members=[])
    session.add(row)
    client = client or groups_client(settings)
    if client is None:
        row.error = "Graph is not configured (HUB_GRAPH_TENANT_ID, _CLIENT_ID, _CLIENT_SECRET)"
        return row
    try:
        group = client.find(ref)
        members = client.members(group["id"])
    except DeliveryError as exc:
        row.error = str(exc)[:1000]
        log.warning("Entra group %s: %s", ref, row.error)
        return row
    row.group_id, row.mail, row.members = group["id"], group.get("mail"), members
    row.fetched_at, row.error = now, None
    log.info("Entra group %s: %d members", ref, len(members))
    return row


def stale_groups(session: Session, policy: Policy, settings: Settings, now: datetime) -> list[str]:
    """The policy's groups never fetched or last fetched longer than HUB_GROUP_REFRESH ago."""
    refs = group_refs(policy)
    if not refs:
        return []
    fresh_after = now - settings.duration("HUB_GROUP_REFRESH")
    fresh = set(
        session.scalars(
            select(EntraGroup.ref).where(
                EntraGroup.ref.in_(refs), EntraGroup.fetched_at > fresh_after
            )
        )
    )
    return [ref for ref in refs if ref not in fresh]


def group_recipients(
    session: Session, policy: Policy, settings: Settings, audience_key: str, now: datetime
) -> list[Recipient]:
    """The email recipients of one audience's groups: members, or the group addresses."""
    audience = policy.audiences.get(audience_key)
    if audience is None or not audience.groups:
        return []
    out, label = [], audience.name or audience_key
    for ref in audience.groups:
        if not audience.expand and "@" in ref:
            out.append(Recipient("email", ref, None, label, audience=audience_key))
            continue
        row = session.get(EntraGroup, ref)
        if row is None:  # never asked: once now; after a failure the periodic refresh retries
            row = refresh_group(session, settings, ref, now)
        address = row.mail or (ref if "@" in ref else None)
        if audience.expand and row.members:
            out += [
                Recipient("email", m["email"], None, m.get("name") or label, audience=audience_key)
                for m in row.members
            ]
        elif address:
            if audience.expand:
                log.warning("Entra group %s: no members known; mailing %s", ref, address)
            out.append(Recipient("email", address, None, label, audience=audience_key))
        else:
            log.warning("Entra group %s of %s: no address and no members known", ref, audience_key)
    return out


def refresh_stale(hub, now: datetime) -> int:
    """Refresh every stale group of the hub's policy, each in its own transaction; how many."""
    with hub.db.session(write=False) as session:
        refs = stale_groups(session, hub.policy, hub.settings, now)
    for ref in refs:
        with hub.transaction() as session:
            refresh_group(session, hub.settings, ref, now)
    return len(refs)
