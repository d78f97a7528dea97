"""What every Teams command handler gets and returns, and the role checks they share.

Who may act on an incident is decided by the console's and the API's rules
(`hub.incidents.permissions`), so a person gets the same answer in Teams as over REST; only the
refusal texts are Teams' own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from hub.app.errors import Forbidden, one_of
from hub.app.models import Incident
from hub.incidents import operations as ops
from hub.incidents import permissions
from hub.intake.teams.commands import Command
from hub.intake.teams.people import Sender
from hub.intake.teams.replies import Reply
from hub.notifications.notices import role_label
from hub.policy.model import Person, Policy


@dataclass
class Ctx:
    """Everything a command needs."""

    session: Session
    policy: Policy
    base_url: str
    sender: Sender
    person: Person | None
    channel: str  # teams | bot
    conversation: str | None  # ConversationRef key of the conversation
    entities: list = field(default_factory=list)
    now: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """The reply and what happened (for the inbound row)."""

    reply: Reply
    outcome: str  # what happened, for the inbound row: created, acknowledged, refused, …
    incident_id: int | None = None


def who(ctx: Ctx, doing: str) -> Person:
    """The sender as a policy person, or a refusal saying why not."""
    if ctx.person is None:
        raise Forbidden(
            f"I can't match your Teams account ({ctx.sender.name}) to a person of "
            f"the incident policy, so you cannot {doing}. Ask an admin to add your "
            "Entra object id or UPN to the policy."
        )
    return ctx.person


def require(ctx: Ctx, incident: Incident, person: Person, action: str, doing: str) -> None:
    """A refusal saying who may, unless `hub.incidents.permissions` lets the person do `action`
    (`doing`: the words for the refusal, "post its updates")."""
    if permissions.can(ctx.policy, incident, person.key, action):
        return
    roles = permissions.ACTIONS[action]
    who_may = one_of(permissions.LABELS[r] for r in roles)
    others = ["whoever is on duty for " + ("those roles" if len(roles) > 1 else "that role")]
    if permissions.TECH in roles:
        others.append("a tech lead of its service")
    raise Forbidden(
        f"Only the {who_may} of {incident.ref} (or {', '.join(others)}, or an admin) "
        f"may {doing} ({holders(ctx, incident, roles)})."
    )


def holders(ctx: Ctx, incident: Incident, roles: tuple[str, ...]) -> str:
    """`Major Incident Manager Anna Schmidt, …` for the refusal texts."""
    names = [
        f"{role_label(r.role)} {ctx.policy.people[r.person].name}"
        if r.person in ctx.policy.people
        else r.person
        for r in ops.active_roles(incident)
        if r.role in roles
    ]
    return ", ".join(names) or "nobody yet"


def incident_of(ctx: Ctx, cmd: Command) -> Incident:
    """The command's incident, locked for the change."""
    return ops.get_incident(ctx.session, cmd.ref, lock=True)
