"""What a message does: a new report (or one more report of a storm), a command, or a comment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.app.errors import HubError
from hub.app.models import Incident, Notification
from hub.app.models import Report as ReportRow
from hub.channels.email.channel import thread_under
from hub.core.classify import Report
from hub.incidents import reports, timer_actions
from hub.incidents.timeline import add_timeline
from hub.intake.commands import Command, Done, parse_reply, run_command
from hub.intake.email.body import Body
from hub.notifications import notices
from hub.notifications import notify as n
from hub.policy.model import Policy

ACK_TEMPLATE = "report-received"
QUOTED_KIND = "quoted history"
ACKS_PER_HOUR = 3  # acknowledgements to one address, whatever the incident
_PREFIX = re.compile(r"^\s*((?:re|aw|sv|fw|fwd|wg|tr)\s*:\s*)+", re.IGNORECASE)


@dataclass
class Effect:
    """The outcome (created, threaded) and what happened, in words; for a report that joined
    an open incident, its title and why it joined (what the acknowledgement tells)."""

    outcome: str
    incident: Incident
    text: str
    joined: tuple[str, str] | None = None


def actor_for(policy: Policy, sender: str) -> str:
    """The person key for a known address, else the address itself."""
    person = policy.person_by_email(sender)
    return person.key if person else sender


def title_from(subject: str, text: str) -> str:
    """The incident title: the subject without Re:/Fwd:, else the first line of the text."""
    title = _PREFIX.sub("", subject).strip()
    if not title:
        title = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return (title or "(no subject)")[:300]


def new_report(
    session: Session,
    policy: Policy,
    sender: str,
    subject: str,
    body: Body,
    inbound_id: int,
    now: datetime,
) -> Effect:
    """Classify the report; open an incident or attach it to a correlated one."""
    actor = actor_for(policy, sender)
    text = body.text.strip() or body.full.strip()
    report = Report(title=title_from(subject, text), text=text, source="email", reporter=actor)
    why: dict = {}
    incident, created = reports.create_incident(
        session,
        policy,
        report,
        actor=actor,
        now=now,
        description=text,
        inbound_id=inbound_id,
        joined=why,
    )
    _attachments(session, incident, actor, body, inbound_id, now)
    _quoted(session, incident, actor, body, inbound_id, now)
    if created:
        return Effect("created", incident, f"opened {incident.ref} ({incident.severity})")
    return Effect(
        "threaded",
        incident,
        f"one more report of {incident.ref} (correlated by service)",
        (report.title, why.get("reason", "")),
    )


def reply(
    session: Session,
    policy: Policy,
    incident: Incident,
    sender: str,
    body: Body,
    inbound_id: int,
    now: datetime,
    verified: bool = True,
) -> Effect:
    """A command by the first line (ACK, UPDATE:, RESOLVED:), if the sender may do it by the
    console's and the API's rules (`hub.core.permissions`, through `act` by
    `hub.intake.commands.run_command`), else a comment on the
    timeline (with why the command was not applied). `verified`: the sender's address is vouched for (a
    DMARC pass where trusted Authentication-Results are configured); a From: anyone can write
    does not act for the person it names."""
    actor = actor_for(policy, sender)
    note = ""
    command = parse_reply(body.text, incident.ref)
    if command and verified:
        try:
            done = run_command(session, policy, command, actor, now)
        except HubError as exc:
            note = f"; the command was not applied: {exc.message}"
        else:
            _attachments(session, incident, actor, body, inbound_id, now)
            return Effect("threaded", incident, _said(command, done))
    else:
        # a comment before the worker got to the mobilisation: the roles first, as `act` does
        timer_actions.ensure_mobilised(session, policy, incident, now)
        if command:
            note = "; the command was not applied: the sender is not verified (no DMARC pass)"
    add_timeline(
        session,
        incident,
        "comment",
        body.text or "(empty message)",
        actor=actor,
        now=now,
        data={"via": "email", "inbound_id": inbound_id, "attachments": body.attachments},
    )
    return Effect("threaded", incident, f"comment on {incident.ref}{note}")


def _said(command: Command, done: Done) -> str:
    """What a reply command did, for the intake log."""
    ref = done.incident.ref
    if command.name == "ack":
        return f"acknowledged {ref} as {', '.join(done.roles) or 'already acknowledged'}"
    if done.new is not None:
        return f"split the sender's report out of {ref} into {done.new.ref}"
    if done.draft is not None:
        return f"drafted update {done.draft.id} of {ref}, awaiting approval"
    return f"posted an update to {ref}" if command.name == "update" else f"resolved {ref}"


def _quoted(session, incident, actor, body: Body, inbound_id: int, now) -> None:
    """The quoted history cut from a report, kept apart from the description (shown folded)."""
    if body.quoted:
        add_timeline(
            session,
            incident,
            QUOTED_KIND,
            body.quoted,
            actor=actor,
            now=now,
            data={"via": "email", "inbound_id": inbound_id},
        )


def _attachments(session, incident, actor, body: Body, inbound_id: int, now) -> None:
    if body.attachments:
        names = ", ".join(a["name"] for a in body.attachments)
        add_timeline(
            session,
            incident,
            "attachment",
            f"Attached by email: {names}",
            actor=actor,
            now=now,
            data={"inbound_id": inbound_id, "attachments": body.attachments},
        )


def _latest_title(session: Session, incident: Incident, reporter: str) -> str:
    """The title of the reporter's latest report of the incident (one row, not all of them:
    a storm's incident holds thousands)."""
    return (
        session.scalar(
            select(ReportRow.title)
            .where(ReportRow.incident_id == incident.id, ReportRow.reporter == reporter)
            .order_by(ReportRow.id.desc())
            .limit(1)
        )
        or ""
    )


def acknowledge_reporter(
    session: Session,
    settings,
    policy: Policy,
    incident: Incident,
    sender: str,
    message_id: str | None,
    correlated: bool,
    now: datetime,
    joined: tuple[str, str] | None = None,
) -> str:
    """One acknowledgement per incident and reporter, at most ACKS_PER_HOUR per address.
    `joined`: the title of the report that joined the incident and why (else looked up)."""
    with session.no_autoflush:  # notifications are written by INSERT at once, not flushed
        recent = (
            session.scalar(
                select(func.count(Notification.id)).where(
                    Notification.template == ACK_TEMPLATE,
                    func.lower(Notification.recipient) == sender,
                    Notification.created_at >= now - timedelta(hours=1),
                )
            )
            or 0
        )
    if recent >= ACKS_PER_HOUR:
        return f"no acknowledgement: {recent} sent to {sender} in the last hour"
    person = policy.person_by_email(sender)
    recipient = notices.Recipient(
        "email", sender, person.key if person else None, person.name if person else None
    )
    ctx = notices.incident_context(incident, policy, settings, now)
    ctx["report"] = {"correlated": correlated}
    if correlated:  # which incident and why, in words the reporter recognises
        if joined is None:
            actor = actor_for(policy, sender)
            joined = (
                _latest_title(session, incident, actor),
                reports.joined_because(session, incident, actor),
            )
        ctx["report"].update(title=joined[0], reason=joined[1])

    def threaded(row: Notification) -> None:
        # an acknowledgement is an auto-reply, threaded under the reporter's own message
        row.payload = thread_under(row.payload, message_id)

    rows = n.notify(
        session,
        settings,
        policy,
        incident,
        ACK_TEMPLATE,
        f"{ACK_TEMPLATE}:{incident.ref}",
        [recipient],
        ctx,
        now,
        finish=threaded,
    )
    if not rows:
        return "no acknowledgement: this reporter had one for this incident already"
    return f"acknowledgement queued ({rows[0].status})"
