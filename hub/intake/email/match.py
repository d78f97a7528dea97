"""Which incident a message belongs to; first hit wins: reply token, our Message-ID, subject tag.

The subject tag `[INC-42]` is believed only from someone already taking part in INC-42, and a
reply token only from the address it was made for: a forwarded token lets no stranger in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.db import row_id
from hub.app.models import InboundMessage, Incident
from hub.channels.email.ids import token_from_address, verify_message_id, verify_reply_token
from hub.incidents.records import locked_incident
from hub.intake.email.message import addresses_in, message_ids, raw_value
from hub.intake.senders import person_key
from hub.policy.model import Policy

RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
_TAG = re.compile(r"\[INC-(\d{1,9})\]", re.IGNORECASE)
MAX_MERGE_HOPS = 10


@dataclass
class Match:
    """The incident found (or None), how, and what was tried on the way."""

    incident: Incident | None = None
    how: str = ""
    notes: list[str] = field(default_factory=list)


def find_incident(
    session: Session,
    secret: str,
    policy: Policy,
    msg: EmailMessage,
    sender: str,
    rcpt_tos: list[str],
    subject: str,
) -> Match:
    """The incident this message replies to, or an empty Match for a new report."""
    found = Match()
    for address in dict.fromkeys(list(rcpt_tos) + addresses_in(msg, *RECIPIENT_HEADERS)):
        token = token_from_address(address)
        if not token:
            continue
        if verify_reply_token(secret, token) is None:
            found.notes.append(f"reply token in {address} is not ours")
            continue
        checked = verify_reply_token(secret, token, sender=sender)
        if checked is None:
            found.notes.append(f"reply token in {address} was made for someone else")
            continue
        if _set(session, found, checked[0], f"reply token in {address}"):
            return found
    refs = message_ids(raw_value(msg, "In-Reply-To")) + message_ids(raw_value(msg, "References"))
    for mid in dict.fromkeys(refs):
        number = verify_message_id(secret, mid)
        if number and _set(session, found, number, f"our Message-ID <{mid}> in the references"):
            return found
    tag = _TAG.search(subject)
    if tag:
        number = row_id(tag.group(1))
        incident = session.get(Incident, number) if number is not None else None
        if incident is None:
            found.notes.append(f"subject names INC-{tag.group(1)}, which does not exist")
        elif is_participant(session, policy, incident, sender):
            _set(session, found, incident.id, f"subject tag [INC-{incident.id}] from a participant")
        else:
            found.notes.append(f"subject names {incident.ref} but {sender} takes no part in it")
    return found


def _set(session: Session, found: Match, number: int, how: str) -> bool:
    # by its number: an incident not yet flushed has none, so the session's pending rows
    # need not be written first
    with session.no_autoflush:
        incident = session.get(Incident, number)
        hops = 0
        while incident is not None and incident.merged_into_id and hops < MAX_MERGE_HOPS:
            how += f" ({incident.ref} was merged into INC-{incident.merged_into_id})"
            incident, hops = session.get(Incident, incident.merged_into_id), hops + 1
    if incident is None:
        found.notes.append(f"{how}: INC-{number} does not exist")
        return False
    # locked, as every other way of acting on an incident locks it (PostgreSQL)
    found.incident = locked_incident(session, incident.id)
    found.how = how
    return True


def is_participant(session: Session, policy: Policy, incident: Incident, sender: str) -> bool:
    """Reporter, role holder, author on the timeline, or earlier correspondent of the incident."""
    who = {sender.lower()}
    key = person_key(policy, sender)
    if key:
        who.add(key)
    people = {
        incident.reporter,
        *(r.reporter for r in incident.reports),
        *(r.person for r in incident.roles),
        *(e.actor for e in incident.timeline),
    }
    if who & {p.lower() for p in people if p}:
        return True
    earlier = session.scalar(
        select(InboundMessage.id)
        .where(
            InboundMessage.incident_id == incident.id,
            InboundMessage.sender == sender.lower(),
            InboundMessage.outcome.in_(("created", "threaded")),
        )
        .limit(1)
    )
    return earlier is not None
