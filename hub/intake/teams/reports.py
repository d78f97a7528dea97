"""Teams commands that open or show incidents: status, report, declare."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from hub.app.errors import Forbidden, Invalid
from hub.app.models import Incident
from hub.app.models import Report as ReportRow
from hub.core import lifecycle
from hub.core.classify import Report
from hub.incidents import classification, records
from hub.incidents.reports import create_incident, joined_because, require_known_services
from hub.intake.commands import Command
from hub.intake.teams import replies
from hub.intake.teams.context import Ctx, Outcome, who
from hub.intake.teams.replies import esc
from hub.policy.model import Policy

TITLE_MAX = 120


def do_status(ctx: Ctx, cmd: Command) -> Outcome:
    """One incident's card, or the active incidents."""
    if cmd.ref:
        incident = records.get_incident(ctx.session, cmd.ref)
        headline = f"{incident.ref}: {esc(incident.severity)}, {esc(incident.state)}"
        return Outcome(
            replies.incident_reply(ctx.policy, ctx.base_url, incident, headline),
            "status",
            incident.id,
        )
    rows = ctx.session.scalars(
        select(Incident)
        .where(Incident.state.in_(lifecycle.ACTIVE))
        .order_by(Incident.id.desc())
        .limit(50)
    ).all()
    return Outcome(replies.list_reply(ctx.base_url, list(rows)), "status")


def _title(text: str) -> str:
    first = text.strip().split("\n", 1)[0].strip()
    if len(first) <= TITLE_MAX:
        return first
    return first[:TITLE_MAX].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


def _rate_check(ctx: Ctx, reporter: str) -> None:
    limit = ctx.policy.intake.rate_per_sender_per_hour
    count = ctx.session.scalar(
        select(func.count())
        .select_from(ReportRow)
        .where(
            ReportRow.reporter == reporter,
            ReportRow.source == "teams",
            ReportRow.at >= ctx.now - timedelta(hours=1),
        )
    )
    if count >= limit:
        raise Forbidden(
            f"You sent {count} reports from Teams in the last hour, the most I "
            "take; add to an existing incident with an update, or call the service desk."
        )


def _created(ctx: Ctx, incident: Incident, created: bool, verb: str) -> Outcome:
    kind = "a major incident" if incident.major else "not a major incident"
    if created:
        headline = f"{verb} {incident.ref}: {esc(incident.severity)}, {kind}"
        note = (
            "The people on duty are being paged."
            if incident.major
            else "The service desk will pick it up."
        )
    else:
        services = ", ".join(incident.services or ()) or "the same problem"
        headline = f"Added to {incident.ref} ({esc(incident.title)}), already open for {services}"
        reason = joined_because(ctx.session, incident, _reporter(ctx))
        note = (
            f"Your report was attached to it{f' ({reason})' if reason else ''}; thank you. "
            f"Not the same problem? Say 'not this {incident.ref}'."
        )
    return Outcome(
        replies.incident_reply(ctx.policy, ctx.base_url, incident, headline, note),
        "created" if created else "correlated",
        incident.id,
    )


def _reporter(ctx: Ctx) -> str:
    return ctx.person.key if ctx.person else ctx.sender.label


def do_report(ctx: Ctx, cmd: Command) -> Outcome:
    """A new report from anyone, classified like an email report."""
    reporter = _reporter(ctx)
    _rate_check(ctx, reporter)
    report = Report(title=_title(cmd.text), text=cmd.text, source="teams", reporter=reporter)
    incident, created = create_incident(
        ctx.session, ctx.policy, report, actor=ctx.person.key if ctx.person else None, now=ctx.now
    )
    return _created(ctx, incident, created, "Reported as")


def _least_major(policy: Policy) -> str:
    majors = [s.key for s in policy.severities.values() if s.major]
    if not majors:
        raise Invalid("the policy has no major severity to declare")
    return majors[-1]


def do_declare(ctx: Ctx, cmd: Command) -> Outcome:
    """A major incident, declared by a person of the policy (at least the least severe major)."""
    person = who(ctx, "declare a major incident")
    if cmd.severity and cmd.severity not in ctx.policy.severities:
        raise Invalid(
            f"unknown severity {cmd.severity}; the policy has " + ", ".join(ctx.policy.severities)
        )
    _rate_check(ctx, person.key)
    require_known_services(cmd.services, ctx.policy)
    report = Report(
        title=_title(cmd.text),
        text=cmd.text,
        services=cmd.services,
        affected_users=cmd.users,
        source="teams",
        reporter=person.key,
    )
    incident, created = create_incident(
        ctx.session, ctx.policy, report, actor=person.key, now=ctx.now
    )
    wanted = cmd.severity or (None if incident.major else _least_major(ctx.policy))
    current = ctx.policy.severities.get(incident.severity)
    if (
        wanted
        and wanted != incident.severity
        and lifecycle.is_active(incident.state)
        and (created or current is None or ctx.policy.severities[wanted].rank < current.rank)
    ):
        classification.classify_again(
            ctx.session,
            ctx.policy,
            incident,
            wanted,
            f"declared in Teams by {person.name}",
            actor=person.key,
            now=ctx.now,
        )
    return _created(ctx, incident, created, "Declared")
