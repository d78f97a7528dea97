"""Teams commands for responders, with who may do what.

Rules beyond the incident operations' own checks:
- acknowledge: only people holding a role in the incident (as in hub.incidents);
- assign: the incident's Major Incident Manager, the current holder of that role (handing it
  over), or a policy admin; while nobody holds the MIM role, anyone on the MIM roster;
- resolve: the Major Incident Manager or the Technical Lead of the incident, or an admin;
- update: anyone holding a role in the incident, or an admin (updates reach executives);
- subscribe: people of the policy.
"""

from __future__ import annotations

from hub import incidents as ops
from hub.core import lifecycle
from hub.errors import Forbidden, Invalid
from hub.notify import role_label
from hub.policy_model import ROLE_NAMES
from hub.teams_intake import conversations
from hub.teams_intake.commands import Command
from hub.teams_intake.context import LEAD, MIM, Ctx, Outcome, holders, holds, incident_of, who
from hub.teams_intake.people import find_person
from hub.teams_intake.replies import Reply, esc, link


def do_ack(ctx: Ctx, cmd: Command) -> Outcome:
    """Acknowledge the roles the sender holds."""
    person = who(ctx, "acknowledge")
    incident = incident_of(ctx, cmd)
    if (lifecycle.is_active(incident.state) and not ops.active_roles(incident, person.key)
            and ops.paged_role(incident, person.key) is None):
        raise Forbidden(
            f"You ({person.name}) hold no role in {incident.ref}, so you cannot "
            f"acknowledge it. Its roles: {holders(ctx, incident, ROLE_NAMES)}."
        )
    acked = ops.acknowledge(ctx.session, ctx.policy, incident, actor=person.key, now=ctx.now)
    if not acked:
        return Outcome(
            Reply(f"You had already acknowledged {link(ctx.base_url, incident)}."),
            "duplicate",
            incident.id,
        )
    roles = ", ".join(role_label(r) for r in acked)
    return Outcome(
        Reply(
            f"✅ {link(ctx.base_url, incident)} acknowledged as {roles}; its "
            f"escalation for you stops. State: {esc(incident.state)}."
        ),
        "acknowledged",
        incident.id,
    )


def do_update(ctx: Ctx, cmd: Command) -> Outcome:
    """A progress update from someone working the incident."""
    person = who(ctx, "post updates")
    incident = incident_of(ctx, cmd)
    if not (person.admin or ops.active_roles(incident, person.key)):
        raise Forbidden(
            f"Only the people working {incident.ref} post its updates "
            f"({holders(ctx, incident, (MIM, LEAD, 'communications_owner'))})."
        )
    ops.post_update(ctx.session, ctx.policy, incident, cmd.text, actor=person.key, now=ctx.now)
    audience = "the stakeholders" if incident.major else "the incident's timeline"
    return Outcome(
        Reply(f"📣 Update posted to {link(ctx.base_url, incident)}; it goes to {audience}."),
        "updated",
        incident.id,
    )


def do_assign(ctx: Ctx, cmd: Command) -> Outcome:
    """Hand a role to a person."""
    person = who(ctx, "assign roles")
    incident = incident_of(ctx, cmd)
    target = find_person(ctx.policy, cmd.person, ctx.entities)
    mim_held = any(r.role == MIM for r in ops.active_roles(incident))
    allowed = (
        person.admin
        or holds(incident, person, (MIM, cmd.role))
        or (not mim_held and person.key in ctx.policy.roles.get(MIM, ()))
    )
    if not allowed:
        raise Forbidden(
            f"Only the Major Incident Manager of {incident.ref} or the current "
            f"{role_label(cmd.role)} can assign that role "
            f"({holders(ctx, incident, (MIM, cmd.role))})."
        )
    ops.assign_role(
        ctx.session, ctx.policy, incident, cmd.role, target.key, actor=person.key, now=ctx.now
    )
    return Outcome(
        Reply(
            f"👤 {esc(target.name)} is now {role_label(cmd.role)} of "
            f"{link(ctx.base_url, incident)} and is being paged."
        ),
        "assigned",
        incident.id,
    )


def do_resolve(ctx: Ctx, cmd: Command) -> Outcome:
    """Resolve, by the MIM or the Technical Lead."""
    person = who(ctx, "resolve incidents")
    incident = incident_of(ctx, cmd)
    if not (person.admin or holds(incident, person, (MIM, LEAD))):
        raise Forbidden(
            f"Only the Major Incident Manager or the Technical Lead of "
            f"{incident.ref} can resolve it ({holders(ctx, incident, (MIM, LEAD))})."
        )
    ops.resolve(ctx.session, ctx.policy, incident, cmd.text, actor=person.key, now=ctx.now)
    after = " The post-incident review starts now." if incident.major else ""
    return Outcome(
        Reply(f"✅ {link(ctx.base_url, incident)} resolved.{after}"), "resolved", incident.id
    )


def do_subscribe(ctx: Ctx, cmd: Command) -> Outcome:
    """Follow an incident's updates."""
    person = who(ctx, "subscribe")
    incident = incident_of(ctx, cmd)
    if incident.state in lifecycle.FINAL:
        raise Invalid(f"{incident.ref} is {incident.state}; there will be no more updates")
    new = conversations.subscribe(
        ctx.session,
        ctx.policy,
        incident,
        person=person.key,
        conversation=ctx.conversation,
        channel=ctx.channel,
        now=ctx.now,
    )
    text = "You will get" if new else "You already get"
    return Outcome(
        Reply(f"🔔 {text} the updates of {link(ctx.base_url, incident)}."),
        "subscribed" if new else "duplicate",
        incident.id,
    )
