"""Who may act on an incident or its review, on every channel (decisions and refusal texts).

Anyone signed in views; acting follows roles and the roster:

- role holders of the incident act within their role (`ACTIONS` below);
- people on duty in the policy's roster for a role act as if they held it on every incident
  (the Major Incident Manager on duty may take over anything, including minor incidents);
  a service's tech leads in the catalogue act as Technical Lead on that service's incidents;
- acknowledging is for role holders, and for a person the escalation paged for a role that
  has not been given or acknowledged since (they take it over: `paged_role`);
- administrators named in the policy (`admins:`) may do everything but acknowledge and are
  the only ones who see the operations pages.

The other operations follow these (`FOLLOWS`): close follows resolve; cancel, merge and split
follow classify (merge on both incidents); a reporter may cancel their own report while nobody
else has reported it and it is still open or declared, and split their own report out of an
incident it joined (`not_this`: "this is a different problem"). A review belongs to its people: its
steps count role holders and administrators, not the roster; an action item is also its
owner's to change. Problem records are kept by the problem and incident managers on the
roster, stored inbound mail by the Major Incident Managers on it; administrators do both.

Pure: incidents are anything shaped like `Incident` below; callers raise the refusals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from hub.core.schedules import schedule_people
from hub.policy.model import ROLE_NAMES, Policy

MIM, TECH, COMMS, PM = ROLE_NAMES
ROLE_LABELS = {
    MIM: "Major Incident Manager",
    TECH: "Technical Lead",
    COMMS: "Communications Owner",
    PM: "Problem Manager",
}

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
    "task": (MIM, TECH, COMMS, PM),  # then only the task's own role: `ticks_task`
}
HELD_ONLY = {
    "acknowledge",
    "review_edit",
    "review_submit",
    "review_approve",
    "review_reject",
    "review_publish",
}  # the roster does not count: the review belongs to its people
FOLLOWS = {"close": "resolve", "cancel": "classify", "merge": "classify", "split": "classify"}
ADMIN_PAGES = "the operations pages are for the administrators named in the policy"


class Role(Protocol):
    role: str
    person: str
    active: bool


class Entry(Protocol):
    kind: str
    data: dict | None


class Reported(Protocol):
    reporter: str | None


class Incident(Protocol):
    """What the rules read of an incident."""

    ref: str
    state: str
    reporter: str | None
    services: Sequence[str] | None
    roles: Sequence[Role]
    timeline: Sequence[Entry]
    reports: Sequence[Reported]


def role_label(role: str | None) -> str:
    """`Major Incident Manager` for `major_incident_manager`."""
    return ROLE_LABELS.get(role or "", (role or "").replace("_", " ").title())


def is_admin(policy: Policy, person: str | None) -> bool:
    """An administrator named in the policy."""
    found = policy.people.get(person or "")
    return bool(found and found.admin)


def holders(incident: Incident, *roles: str) -> list[str]:
    """Current holders of the first of `roles` that is held."""
    for role in roles:
        people = [r.person for r in incident.roles if r.active and r.role == role]
        if people:
            return people
    return []


def review_owner(incident: Incident) -> str | None:
    """The review's owner: the incident's Problem Manager."""
    return next(iter(holders(incident, PM)), None)


def held_roles(incident: Incident, person: str | None) -> set[str]:
    """Roles the person holds on the incident now."""
    return {r.role for r in incident.roles if r.active and r.person == person}


def on_duty(policy: Policy, person: str | None, role: str) -> bool:
    """Whether the person is on the policy's roster for a role (in a schedule it names too)."""
    for entry in policy.roles.get(role, ()) if person else ():
        schedule = entry.startswith("schedule:") and policy.schedules.get(
            entry[len("schedule:") :].partition("#")[0]
        )
        if entry == person or (schedule and person in schedule_people(schedule)):
            return True
    return False


def leads_a_service(policy: Policy, incident: Incident, person: str | None) -> bool:
    """Whether the person is a tech lead of one of the incident's services in the catalogue
    (they lead the fix of their service's incidents, major or not, as if on duty)."""
    return bool(person) and any(
        person in policy.services[key].tech_lead
        for key in incident.services or ()
        if key in policy.services
    )


def paged_role(incident: Incident, person: str | None) -> str | None:
    """The role the escalation paged this person for, if it is still open to them.

    A page is a call to take the role now; once the role has been given (re-assigned, or
    taken by someone else acknowledging their page) or its holder has acknowledged, an
    older page no longer counts.
    """
    given_since: set[str] = set()
    for entry in reversed(incident.timeline):
        data = entry.data or {}
        if entry.kind == "role" and data.get("role"):
            given_since.add(data["role"])
        elif entry.kind == "acknowledged":
            given_since.update(data.get("roles", ()))
        elif entry.kind in ("paged", "escalated"):
            for paged, role in data.get("paged", ()):
                if paged == person and role in ROLE_NAMES and role not in given_since:
                    return role
    return None


def may_acknowledge(incident: Incident, person: str | None) -> bool:
    """Role holders acknowledge, and whoever the escalation paged for a role still open to
    them (acknowledging, they take it over)."""
    return bool(held_roles(incident, person)) or paged_role(incident, person) is not None


def acknowledge_refusal(incident: Incident, person: str | None) -> str:
    """Why the person may not acknowledge (the operation's words, after its state check)."""
    return (
        f"{person} holds no role in {incident.ref} and was not paged for one; "
        "only role holders and the people paged acknowledge"
    )


def cancels_own_report(incident: Incident, person: str | None) -> bool:
    """The reporter cancelling their own report: nobody else reported it, nor is it mobilised
    (others' reports confirm it)."""
    return (
        person == incident.reporter
        and incident.state in ("open", "declared")
        and all(r.reporter in (None, person) for r in incident.reports)
    )


def joined_a_report(incident: Incident, person: str | None) -> bool:
    """The person reported the incident after it was opened (their report joined it)."""
    return bool(person) and any(r.reporter == person for r in list(incident.reports)[1:])


def can(policy: Policy, incident: Incident, person: str | None, action: str) -> bool:
    """Whether the person may do `action` (or an operation that follows it) on the incident."""
    if action == "cancel" and cancels_own_report(incident, person):
        return True
    if action == "not_this":
        return joined_a_report(incident, person)
    action = FOLLOWS.get(action, action)
    if not person or person not in policy.people:
        return False
    roles = ACTIONS[action]
    held = held_roles(incident, person)
    if action == "acknowledge":
        return may_acknowledge(incident, person)
    if is_admin(policy, person):
        return True
    if held & set(roles):
        return True
    return action not in HELD_ONLY and any(
        on_duty(policy, person, r) or (r == TECH and leads_a_service(policy, incident, person))
        for r in roles
    )


def allowed(policy: Policy, incident: Incident, person: str | None) -> dict[str, bool]:
    """Every action with a yes or no, for the templates to show or hide controls."""
    return {action: can(policy, incident, person, action) for action in ACTIONS}


def refusal(incident: Incident, action: str) -> str:
    """Why not, with who may: the console's, the API's and email's words."""
    if action == "acknowledge":
        return f"only people holding a role in {incident.ref}, or paged for one, acknowledge it"
    if action == "not_this":
        return f"only a reporter whose report joined {incident.ref} may split it out"
    rule = FOLLOWS.get(action, action)
    who = " or ".join(ROLE_LABELS[r] for r in ACTIONS[rule])
    doing = action.replace("review_", "").replace("_", " ")
    return f"only the {who} of {incident.ref} (or on duty, or an administrator) may {doing} here"


def holds_or_admin(policy: Policy, incident: Incident, person: str, roles: Iterable[str]) -> bool:
    """Whether the person holds one of `roles` on the incident or is a policy admin (the
    review's rule: its people, not the roster)."""
    return is_admin(policy, person) or any(person in holders(incident, r) for r in roles)


def review_refusal(incident: Incident, person: str, roles: Iterable[str], doing: str) -> str:
    """Why a review step is not the person's to take."""
    names = " or ".join(role_label(r) for r in roles)
    return (
        f"only the {names} of {incident.ref} (or a policy admin) may {doing}; {person} is neither"
    )


def changes_action_item(
    policy: Policy, incident: Incident, owner: str | None, person: str | None
) -> bool:
    """An action item is changed by its owner, the incident's Problem Manager or Major
    Incident Manager (held, not the roster), or a policy admin."""
    return person == owner or holds_or_admin(policy, incident, person, (PM, MIM))


def action_item_refusal(incident: Incident) -> str:
    """Why an action item is not the person's to change."""
    return (
        f"only the item's owner, the Problem Manager or the Major Incident "
        f"Manager of {incident.ref} (or a policy admin) may change it"
    )


def ticks_task(policy: Policy, incident: Incident, person: str | None, role: str) -> bool:
    """A task is ticked by its role: the holder, whoever is on duty for that role (a service's
    tech leads for the Technical Lead's), or a policy admin; not by another role."""
    return bool(person) and (
        is_admin(policy, person)
        or role in held_roles(incident, person)
        or on_duty(policy, person, role)
        or (role == TECH and leads_a_service(policy, incident, person))
    )


def task_refusal(incident: Incident, person: str | None, role: str, n: int) -> str:
    """Why the person may not tick task `n`."""
    return (
        f"task {n} of {incident.ref} is the {role_label(role)}'s; {person} does not hold "
        f"that role, so only the {role_label(role)} (or a policy admin) may tick it"
    )


PROBLEM_MANAGERS = (PM, MIM)  # rosters whose people (and admins) manage problem records


def manages_problems(policy: Policy, person: str | None) -> bool:
    """Problem records are kept by the problem and incident managers on the roster, and admins."""
    return is_admin(policy, person) or any(on_duty(policy, person, r) for r in PROBLEM_MANAGERS)


def problems_refusal(person: str | None) -> str:
    """Why the person may not manage problem records."""
    return (
        f"{person} may not manage problems: only people on the problem_manager or "
        "major_incident_manager roster, or policy admins"
    )


def manages_mail(policy: Policy, person: str | None) -> bool:
    """Stored inbound mail (quarantine, lookup, release) is read and handled by policy admins
    and the Major Incident Managers on the roster."""
    return is_admin(policy, person) or on_duty(policy, person, MIM)


MAIL_REFUSAL = "only policy admins and Major Incident Managers manage stored mail"


def manages_status(policy: Policy, person: str | None) -> bool:
    """Maintenance on the status page is set by the Communications Owners on the roster and
    policy admins."""
    return is_admin(policy, person) or on_duty(policy, person, "communications_owner")


STATUS_REFUSAL = "only policy admins and Communications Owners on the roster set maintenance"
