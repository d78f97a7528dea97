"""Previews: the classification a report would get, and what stakeholders would receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup

from hub.app.models import Incident
from hub.app.timefmt import local_hhmm
from hub.channels.email.compose import ThreadInfo, render_email
from hub.channels.teams.cards import render_card
from hub.core import cadence
from hub.core.classify import Classification, Report, classify_report
from hub.incidents import reports
from hub.notifications.notices import audience_recipients, incident_context, update_context
from hub.policy.model import Policy
from hub.web.cards import card_html

TEMPLATE = "stakeholder-update"


def classification_preview(
    session, policy: Policy, report: Report, now: datetime
) -> Classification:
    """What `create_incident` would decide for this report now (nothing is written)."""
    related = reports.related_reports(session, policy, reports.report_services(report, policy), now)
    return classify_report(report, policy, related, now=now)


@dataclass
class UpdatePreview:
    """What posting an update would send, or why it would send nothing."""

    goes_out: bool
    audiences: list[str] = field(default_factory=list)
    email_count: int = 0
    teams_count: int = 0
    next_update_local: str | None = None
    subject: str = ""
    text: str = ""
    card: Markup = Markup("")
    problem: str | None = None


def _next_due(policy: Policy, incident: Incident, now: datetime) -> str | None:
    severity = policy.severities.get(incident.severity)
    if severity is None or not severity.update_every:
        return None
    number = max(
        (int((t.data or {}).get("cycle", 0)) for t in incident.timers if t.kind == "update-due"),
        default=0,
    )
    nxt = cadence.after_update(severity, number, now)
    return local_hhmm(nxt.due_at, policy.timezone) if nxt else None


def update_preview(
    settings, policy: Policy, incident: Incident, text: str, author: str, now: datetime
) -> UpdatePreview:
    """Render the stakeholder update email and Teams card for `text` as if posted now."""
    if not (incident.major and incident.state in ("declared", "mobilised")):
        return UpdatePreview(
            goes_out=False,
            problem=(
                "This is not a running major incident: the update goes on the timeline only; "
                "no stakeholder is notified."
            ),
        )
    audiences = list((incident.plan or {}).get("communication", {}).get("audiences", ()))
    recipients = audience_recipients(policy, audiences)
    emails = [r for r in recipients if r.channel == "email"]
    preview = UpdatePreview(
        goes_out=True,
        audiences=audiences,
        email_count=len(emails),
        teams_count=len(recipients) - len(emails),
        next_update_local=_next_due(policy, incident, now),
    )
    ctx = incident_context(incident, policy, settings, now)
    ctx.update(
        update=update_context(policy, text or "(your update)", author, now),
        next_update_at_local=preview.next_update_local,
        recipient={
            "name": emails[0].name if emails else "Stakeholders",
            "email": emails[0].address if emails else None,
        },
    )
    try:
        mail = render_email(
            TEMPLATE,
            ctx,
            to=emails[0].address if emails else "stakeholders@example.invalid",
            settings=settings,
            thread=ThreadInfo(incident.id, f"preview:{incident.ref}"),
        )
        preview.subject, preview.text = mail["subject"], mail["text"]
        preview.card = card_html(render_card(TEMPLATE, ctx))
    except Exception as exc:  # a broken template shows here rather than stopping the page
        preview.problem = f"The preview could not be made: {type(exc).__name__}: {exc}"
    return preview
