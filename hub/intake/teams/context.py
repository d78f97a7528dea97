"""What every Teams command handler gets and returns, and the role checks they share.

Who may act on an incident is decided by the console's and the API's rules
(`hub.core.permissions`, through `hub.incidents.act`), so a person gets the same answer in
Teams as over REST; only the refusal texts are Teams' own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from hub.app.errors import Forbidden, one_of
from hub.app.models import Incident
from hub.core import lifecycle, permissions
from hub.intake.teams.people import Sender
from hub.intake.teams.replies import Reply
from hub.policy.model import ROLE_NAMES, Person, Policy


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


def refusal(ctx: Ctx, person: Person, action: str, doing: str):
    """Teams' words for `act` when the person may not do `action`: who may, and who holds
    those roles now (`doing`: "post its updates")."""

    def refuse(incident: Incident) -> Forbidden | None:
        if action == "acknowledge":
            if not lifecycle.is_active(incident.state):
                return None  # the operation answers: there is nothing to acknowledge
            return Forbidden(
                f"You ({person.name}) hold no role in {incident.ref} and were not paged for "
                f"one, so you cannot acknowledge it. Its roles: "
                f"{holders(ctx, incident, ROLE_NAMES)}."
            )
        roles = permissions.ACTIONS[action]
        who_may = one_of(permissions.ROLE_LABELS[r] for r in roles)
        others = ["whoever is on duty for " + ("those roles" if len(roles) > 1 else "that role")]
        if permissions.TECH in roles:
            others.append("a tech lead of its service")
        return Forbidden(
            f"Only the {who_may} of {incident.ref} (or {', '.join(others)}, or an admin) "
            f"may {doing} ({holders(ctx, incident, roles)})."
        )

    return refuse


def holders(ctx: Ctx, incident: Incident, roles: tuple[str, ...]) -> str:
    """`Major Incident Manager Anna Schmidt, …` for the refusal texts."""
    names = [
        f"{permissions.role_label(role)} {ctx.policy.people[key].name}"
        if key in ctx.policy.people
        else key
        for role in ROLE_NAMES
        if role in roles
        for key in permissions.holders(incident, role)
    ]
    return ", ".join(names) or "nobody yet"
