"""Who may do what with a review: role holders on the incident, and policy admins."""

from __future__ import annotations

from hub.app.errors import Forbidden
from hub.app.models import Incident
from hub.policy.model import Policy

MIM, PM = "major_incident_manager", "problem_manager"


def holders(incident: Incident, role: str) -> list[str]:
    """Current holders of a role on the incident."""
    return [r.person for r in incident.roles if r.active and r.role == role]


def owner(incident: Incident) -> str | None:
    """The review's owner: the incident's Problem Manager."""
    return next(iter(holders(incident, PM)), None)


def is_admin(policy: Policy, actor: str) -> bool:
    """A policy admin (`admins:`), who may act on any incident."""
    person = policy.people.get(actor)
    return bool(person and person.admin)


def require(
    policy: Policy, incident: Incident, actor: str, roles: tuple[str, ...], doing: str
) -> None:
    """Forbidden unless the actor holds one of `roles` on the incident or is a policy admin."""
    if is_admin(policy, actor) or any(actor in holders(incident, r) for r in roles):
        return
    names = " or ".join(r.replace("_", " ").title() for r in roles)
    raise Forbidden(
        f"only the {names} of {incident.ref} (or a policy admin) may {doing}; {actor} is neither"
    )
