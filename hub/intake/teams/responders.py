"""Teams commands for responders.

Who may ack, update, assign and resolve is the console's and the API's rule set
(`hub.core.permissions`, README "Who may do what"), through `hub.incidents.act` as on every
channel, so Teams gives the same answer as REST (ack, update and resolve by
`hub.intake.commands.run_command`, as email replies); subscribe is open to every person of the
policy.
"""

from __future__ import annotations

from hub.app.errors import Invalid
from hub.core import lifecycle
from hub.core.permissions import role_label
from hub.incidents import operations as ops
from hub.incidents.act import act
from hub.incidents.records import get_incident
from hub.intake.commands import ACTIONS, Command, Done, run_command
from hub.intake.teams import conversations
from hub.intake.teams.context import Ctx, Outcome, refusal, who
from hub.intake.teams.people import find_person
from hub.intake.teams.replies import Reply, esc, link
from hub.policy.model import Person
from hub.subscriptions import service as subs


def _run(ctx: Ctx, cmd: Command, person: Person, doing: str) -> Done:
    """An ack, update or resolve through `run_command`, refused in Teams' words; in the
    savepoint `handlers.run` rolls back on a refusal, so without one of its own."""
    return run_command(
        ctx.session,
        ctx.policy,
        cmd,
        person.key,
        ctx.now,
        refusal=refusal(ctx, person, ACTIONS[cmd.name], doing),
        savepoint=False,
    )


def do_ack(ctx: Ctx, cmd: Command) -> Outcome:
    """Acknowledge the roles the sender holds (or the role they were paged for)."""
    person = who(ctx, "acknowledge")
    done = _run(ctx, cmd, person, "acknowledge it")
    incident = done.incident
    if not done.roles:
        return Outcome(
            Reply(f"You had already acknowledged {link(ctx.base_url, incident)}."),
            "duplicate",
            incident.id,
        )
    roles = ", ".join(role_label(r) for r in done.roles)
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
    done = _run(ctx, cmd, person, "post its updates")
    incident = done.incident
    audience = "the stakeholders" if incident.major else "the incident's timeline"
    if done.draft is not None:
        return Outcome(
            Reply(
                f"✍️ Your update to {link(ctx.base_url, incident)} is draft {done.draft.id}: "
                f"it goes to the stakeholders once the {role_label(done.draft.approver_role)} "
                "approves it."
            ),
            "drafted",
            incident.id,
        )
    return Outcome(
        Reply(f"📣 Update posted to {link(ctx.base_url, incident)}; it goes to {audience}."),
        "updated",
        incident.id,
    )


def do_done(ctx: Ctx, cmd: Command) -> Outcome:
    """Tick a task of the sender's role's checklist."""
    person = who(ctx, "tick tasks")
    incident = _run(ctx, cmd, person, "tick its tasks").incident
    return Outcome(
        Reply(f"☑️ Task {cmd.task} of {link(ctx.base_url, incident)} is done."),
        "task-done",
        incident.id,
    )


def do_assign(ctx: Ctx, cmd: Command) -> Outcome:
    """Hand a role to a person."""
    person = who(ctx, "assign roles")

    def run(incident):
        target = find_person(ctx.policy, cmd.person, ctx.entities)
        ops.assign_role(
            ctx.session, ctx.policy, incident, cmd.role, target.key, actor=person.key, now=ctx.now
        )
        return incident, target

    incident, target = act(
        ctx.session,
        ctx.policy,
        cmd.ref,
        person.key,
        "assign",
        run,
        now=ctx.now,
        refusal=refusal(ctx, person, "assign", "assign its roles"),
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

    incident = _run(ctx, cmd, person, "resolve it").incident
    after = " The post-incident review starts now." if incident.major else ""
    return Outcome(
        Reply(f"✅ {link(ctx.base_url, incident)} resolved.{after}"), "resolved", incident.id
    )


def do_split(ctx: Ctx, cmd: Command) -> Outcome:
    """Split a joined report out into its own incident (the Major Incident Manager)."""
    person = who(ctx, "split reports")
    done = run_command(ctx.session, ctx.policy, cmd, person.key, ctx.now, savepoint=False)
    return _split_reply(ctx, done, "Split out")


def do_not_this(ctx: Ctx, cmd: Command) -> Outcome:
    """The sender's own report that joined an incident is another problem: split it out."""
    reporter = ctx.person.key if ctx.person else ctx.sender.label
    done = run_command(ctx.session, ctx.policy, cmd, reporter, ctx.now, savepoint=False)
    return _split_reply(ctx, done, "Your report is now its own incident")


def _split_reply(ctx: Ctx, done: Done, headline: str) -> Outcome:
    new = done.new
    return Outcome(
        Reply(
            f"✂️ {esc(headline)}: {link(ctx.base_url, new)} ({esc(new.severity)}), no longer "
            f"counted with {link(ctx.base_url, done.incident)}."
        ),
        "split",
        new.id,
    )


def do_subscribe(ctx: Ctx, cmd: Command) -> Outcome:
    """Follow an incident's or a service's updates."""
    person = who(ctx, "subscribe")
    if cmd.ref is None:
        target = subs.parse_target(ctx.session, ctx.policy, cmd.text)
        _, new = subs.subscribe_person(
            ctx.session, ctx.policy, person.key, target, "teams", "teams", ctx.now
        )
        what = esc(subs.target_label(ctx.policy, target))
        text = "You will get" if new else "You already get"
        return Outcome(
            Reply(f"🔔 {text} the updates about {what} (`unsubscribe {what}` stops them)."),
            "subscribed" if new else "duplicate",
        )
    incident = get_incident(ctx.session, cmd.ref, lock=True)
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


def do_unsubscribe(ctx: Ctx, cmd: Command) -> Outcome:
    """Stop following an incident or a service."""
    person = who(ctx, "unsubscribe")
    if cmd.ref is not None:
        incident = get_incident(ctx.session, cmd.ref, lock=True)
        target = f"incident:{incident.id}"
        ended = conversations.unsubscribe(
            ctx.session, ctx.policy, incident, person=person.key, now=ctx.now
        )
    else:
        target = subs.parse_target(ctx.session, ctx.policy, cmd.text)
        ended = False
    for row in subs.person_subscriptions(ctx.session, ctx.policy, person.key):
        if row.target == target:
            ended = subs.end(row, ctx.now) or ended
    what = esc(subs.target_label(ctx.policy, target))
    if not ended:
        return Outcome(Reply(f"You were not subscribed to {what}."), "duplicate")
    return Outcome(Reply(f"🔕 You no longer get the updates about {what}."), "unsubscribed")
