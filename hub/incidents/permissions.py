"""Who may act on an incident, on every channel: the console, the REST API, Teams commands
and email reply commands. Anyone signed in views; acting follows roles and the roster.

- role holders of the incident act within their role (table below);
- people on duty in the policy's roster for a role act as if they held it on every incident
  (the Major Incident Manager on duty may take over anything, including minor incidents);
  a service's tech leads in the catalogue act as Technical Lead on that service's incidents;
- acknowledging is for role holders, and for a person the escalation paged for a role that
  has not been given or acknowledged since (they take it over: `incidents.paged_role`);
- administrators named in the policy (`admins:`) may do everything but acknowledge and are
  the only ones who see the operations pages.

The API maps its other operations onto these: close follows resolve; cancel and merge
follow classify (merge on both incidents); a reporter may cancel their own report while
nobody else has reported it and it is still open or declared.
"""

from __future__ import annotations

from hub.app.errors import Forbidden
from hub.app.models import Incident
from hub.incidents import operations as ops
from hub.policy.model import Policy

MIM, TECH, COMMS, PM = (
    "major_incident_manager",
    "tech_lead",
    "communications_owner",
    "problem_manager",
)

# action -> roles that may do it (held on the incident, or on duty in the roster)
ACTIONS: dict[str, tuple[str, ...]] = {
    "acknowledge": (MIM, TECH, COMMS, PM),
    "update": (MIM, COMMS, TECH),
    "assign": (MIM,),
    "classify": (MIM,),
    "resolve": (MIM, TECH),
    "review_edit": (PM, MIM),
    "review_submit": (PM,),
    "review_approve": (MIM,),
    "review_reject": (MIM,),
    "review_publish": (MIM,),
}
HELD_ONLY = {
    "acknowledge",
    "review_edit",
    "review_submit",
    "review_approve",
    "review_reject",
    "review_publish",
}  # the roster does not count: the review belongs to its people
LABELS = {
    MIM: "Major Incident Manager",
    TECH: "Technical Lead",
    COMMS: "Communications Owner",
    PM: "Problem Manager",
}


def is_admin(policy: Policy, person: str | None) -> bool:
    """An administrator named in the policy."""
    found = policy.people.get(person or "")
    return bool(found and found.admin)


def held_roles(incident: Incident, person: str | None) -> set[str]:
    """Roles the person holds on the incident now."""
    return {r.role for r in incident.roles if r.active and r.person == person}


def on_duty(policy: Policy, person: str | None, role: str) -> bool:
    """Whether the person is on the policy's roster for a role."""
    return bool(person) and person in policy.roles.get(role, ())


def can(policy: Policy, incident: Incident, person: str | None, action: str) -> bool:
    """Whether the person may do `action` on the incident."""
    if not person or person not in policy.people:
        return False
    roles = ACTIONS[action]
    held = held_roles(incident, person)
    if action == "acknowledge":  # role holders, and whoever the escalation paged for a role
        return bool(held) or ops.paged_role(incident, person) is not None
    if is_admin(policy, person):
        return True
    if held & set(roles):
        return True
    return action not in HELD_ONLY and any(
        on_duty(policy, person, r) or (r == TECH and leads_a_service(policy, incident, person))
        for r in roles
    )


def leads_a_service(policy: Policy, incident: Incident, person: str | None) -> bool:
    """Whether the person is a tech lead of one of the incident's services in the catalogue
    (they lead the fix of their service's incidents, major or not, as if on duty)."""
    return bool(person) and any(
        person in policy.services[key].tech_lead
        for key in incident.services or ()
        if key in policy.services
    )


def allowed(policy: Policy, incident: Incident, person: str | None) -> dict[str, bool]:
    """Every action with a yes or no, for the templates to show or hide controls."""
    return {action: can(policy, incident, person, action) for action in ACTIONS}


def require(
    policy: Policy, incident: Incident, person: str | None, action: str, doing: str | None = None
) -> None:
    """Forbidden, with who may, unless the person may do `action` (`doing`: what the person
    tried, when it is not the action's own name: "close", "cancel", "merge")."""
    if can(policy, incident, person, action):
        return
    who = " or ".join(LABELS[r] for r in ACTIONS[action])
    doing = doing or action.replace("review_", "").replace("_", " ")
    if action == "acknowledge":
        raise Forbidden(
            f"only people holding a role in {incident.ref}, or paged for one, acknowledge it"
        )
    raise Forbidden(
        f"only the {who} of {incident.ref} (or on duty, or an administrator) may {doing} here"
    )


def require_admin(policy: Policy, person: str | None) -> None:
    """Forbidden unless the person is an administrator (the operations pages)."""
    if not is_admin(policy, person):
        raise Forbidden("the operations pages are for the administrators named in the policy")
