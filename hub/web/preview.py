"""Previews: the classification a report would get, and what stakeholders would receive."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from markupsafe import Markup

from hub.app.models import Incident
from hub.app.timefmt import local_hhmm
from hub.channels import registry
from hub.channels.status_text import render_status_text
from hub.core import cadence
from hub.core.classify import Classification, Report
from hub.incidents import reports
from hub.notifications.notices import audience_recipients, incident_context, update_context
from hub.policy.model import Policy
from hub.web.cards import card_html

TEMPLATE = "stakeholder-update"


def classification_preview(
    session, policy: Policy, report: Report, now: datetime
) -> Classification:
    """What `create_incident` would decide for this report now (nothing is written)."""
    return reports.classify_new(session, policy, report, now)


@dataclass
class ChannelPreview:
    """One channel's part of the preview: how many it reaches and, if it draws one, its notice
    (`shows`: "mail" with `subject` and `text`, "card" with `card`, "text" with `text`)."""

    label: str
    count: int
    noun: str  # "email address" / "email addresses", by `count`
    shows: str = ""
    subject: str = ""
    text: str = ""
    card: Markup = Markup("")


@dataclass
class UpdatePreview:
    """What posting an update would send, or why it would send nothing."""

    goes_out: bool
    audiences: list[str] = field(default_factory=list)
    channels: list[ChannelPreview] = field(default_factory=list)  # in display order
    next_update_local: str | None = None
    problem: str | None = None
    status_text: str | None = None  # the update as the status page shows it

    @property
    def drawn(self) -> list[ChannelPreview]:
        """The channels whose notice the preview draws."""
        return [c for c in self.channels if c.shows]


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
    """Count the stakeholder update's recipients on each channel and draw it as each channel
    would send it (`Channel.preview`) and as the status page shows it, for `text` as if
    posted now (with the policy's override templates, if any)."""
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
    preview = UpdatePreview(
        goes_out=True,
        audiences=[policy.audience_name(a) for a in audiences],
        next_update_local=_next_due(policy, incident, now),
    )
    ctx = incident_context(incident, policy, settings, now)
    ctx.update(
        update=update_context(policy, text or "(your update)", author, now),
        next_update_at_local=preview.next_update_local,
        recipient={"name": "Stakeholders", "email": None, "may_reply": False},
    )
    channels = sorted(registry.channels(), key=lambda c: c.display_order)
    for channel in channels:
        own = sum(r.channel == channel.name for r in recipients)
        singular, plural = channel.count_noun
        label, noun = channel.label or channel.name, singular if own == 1 else plural
        preview.channels.append(ChannelPreview(label, own, noun))
    try:
        drawn = [
            _drawn(c, shown, [r for r in recipients if r.channel == c.name], ctx, settings)
            for c, shown in zip(channels, preview.channels, strict=True)
        ]
        status = render_status_text(settings, ctx)
    except Exception as exc:  # a broken template shows here rather than stopping the page
        preview.problem = f"The preview could not be made: {type(exc).__name__}: {exc}"
    else:
        preview.channels, preview.status_text = drawn, status
    return preview


def _drawn(channel, out: ChannelPreview, own: list, ctx: dict, settings) -> ChannelPreview:
    """`out` with the channel's notice drawn, if the channel draws one."""
    drawn = channel.preview(TEMPLATE, ctx, own, settings)
    if drawn is None:
        return out
    if drawn.shows == "mail":
        return replace(out, shows="mail", subject=drawn.body["subject"], text=drawn.body["text"])
    if drawn.shows == "card":
        return replace(out, shows="card", card=card_html(drawn.body))
    return replace(out, shows="text", text=str(drawn.body))
