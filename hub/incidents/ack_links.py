"""Using a signed page link (hub/incidents/page_links.py): "Acknowledge" or "Take over" in one
tap from a page, without signing in.

Opening it changes nothing (mail scanners open every link); using it acts through `act()` like
every channel. It works while the incident is active, for as long as the page still counts (the
person holds the role, or the escalation paged them for it), and once: the first use is
recorded in `action_links` and a second one is told what the first did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.app.errors import HubError, NotFound
from hub.app.models import ActionLink, Incident
from hub.app.timefmt import local_hhmm
from hub.core import lifecycle, permissions
from hub.incidents import operations as ops
from hub.incidents.act import act
from hub.incidents.page_links import VERBS, Claim
from hub.incidents.records import get_incident
from hub.policy.model import Policy, person_name


@dataclass(frozen=True)
class LinkState:
    """What a link can do now: `ready` (show the button), `done` (it just acted), or why not:
    `invalid`, `used`, `over` (the incident is resolved or closed), `acknowledged` (already,
    another way), `gone` (the role went to someone else)."""

    status: str
    message: str
    incident: dict | None = None


def _summary(policy: Policy, incident: Incident, claim: Claim) -> dict:
    holders = permissions.holders(incident, claim.role)
    return {
        "ref": incident.ref,
        "title": incident.title,
        "severity": incident.severity,
        "state": incident.state,
        "role_label": permissions.role_label(claim.role),
        "person_name": person_name(policy, claim.person),
        "purpose": claim.purpose,
        "verb": VERBS[claim.purpose],
        "holder_name": person_name(policy, holders[0]) if holders else None,
        "bridge_url": policy.bridge_url,
    }


def _state(session: Session, policy: Policy, incident: Incident, claim: Claim) -> LinkState:
    """What the link can do on the incident as it is (reads only)."""
    info = _summary(policy, incident, claim)
    role, ref = info["role_label"], incident.ref
    used = session.scalars(select(ActionLink).where(ActionLink.nonce == claim.nonce)).first()
    if used is not None:
        at = local_hhmm(used.used_at, policy.timezone)
        return LinkState(
            "used", f"This link was used at {at}: {used.outcome} Nothing more to do.", info
        )
    if claim.person not in policy.people:
        return LinkState("invalid", "This link is for someone the hub no longer knows.", None)
    if not lifecycle.is_active(incident.state):
        state = incident.state.replace("_", " ")
        return LinkState("over", f"{ref} is {state}; there is nothing to acknowledge.", info)
    mine = next(
        (
            r
            for r in incident.roles
            if r.active and r.person == claim.person and r.role == claim.role
        ),
        None,
    )
    if mine is not None and mine.acknowledged_at is not None:
        at = local_hhmm(mine.acknowledged_at, policy.timezone)
        return LinkState("acknowledged", f"You acknowledged {ref} as {role} at {at} already.", info)
    if mine is not None or permissions.paged_role(incident, claim.person) == claim.role:
        return LinkState("ready", "", info)
    holder = info["holder_name"] or "nobody"
    return LinkState(
        "gone",
        f"The {role} of {ref} is now {holder}, so this page no longer counts.",
        info,
    )


def inspect(session: Session, policy: Policy, claim: Claim) -> LinkState:
    """What opening the link shows; changes nothing."""
    try:
        incident = get_incident(session, claim.incident_id)
    except NotFound:
        return LinkState("invalid", "This link names an incident the hub does not have.")
    return _state(session, policy, incident, claim)


def use(session: Session, policy: Policy, claim: Claim, now: datetime) -> LinkState:
    """Spend the link: acknowledge (taking the role over if paged for it) through `act()`.
    Raises what `act()` raises; the caller rolls back and shows `refused(error)`."""

    def operation(incident: Incident) -> LinkState:
        state = _state(session, policy, incident, claim)
        if state.status != "ready":
            return state
        try:
            with session.begin_nested():  # the nonce is unique: exactly one use wins
                record = ActionLink(
                    nonce=claim.nonce,
                    incident_id=incident.id,
                    person=claim.person,
                    role=claim.role,
                    purpose=claim.purpose,
                    used_at=now,
                    outcome="",
                )
                session.add(record)
                session.flush()
        except IntegrityError:
            return _state(session, policy, incident, claim)
        acked = ops.acknowledge(session, policy, incident, actor=claim.person, now=now)
        labels = ", ".join(permissions.role_label(r) for r in acked) or state.incident["role_label"]
        did = "took over and acknowledged" if claim.purpose == "take-over" else "acknowledged"
        record.outcome = f"{state.incident['person_name']} {did} {incident.ref} as {labels}."
        info = _summary(policy, incident, claim)
        return LinkState("done", record.outcome, info)

    return act(
        session,
        policy,
        claim.incident_id,
        claim.person,
        "acknowledge",
        operation,
        now=now,
        refusal=lambda incident: None,  # the operation says why, calmly
    )


def refused(error: HubError) -> LinkState:
    """A use the hub refused (its transaction rolled back): what the page says."""
    if isinstance(error, NotFound):
        return LinkState("invalid", "This link names an incident the hub does not have.")
    return LinkState("refused", f"{error.message} Nothing was changed.")
