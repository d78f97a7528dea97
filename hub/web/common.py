"""What every console view shares: the hub, the signed-in person, rendering, time formatting."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import current_app, g, render_template
from markupsafe import Markup

from hub.app.errors import Unauthorized
from hub.app.redact import redact_text
from hub.app.text import nl2br, safe_url
from hub.core.permissions import is_admin, role_label
from hub.policy import model as policy_model
from hub.web.clock import Clock

SEVERITY_CLASSES = ("sev-a", "sev-b", "sev-c", "sev-d")  # by rank; most severe first
SHORT_ROLES = {
    "major_incident_manager": "MIM",
    "tech_lead": "Tech lead",
    "communications_owner": "Comms",
    "problem_manager": "Problem mgr",
}


def the_hub():
    """This app's Hub (settings, database, policy)."""
    return current_app.extensions["hub"]


def current_person() -> str | None:
    """The signed-in person's key, or None."""
    return getattr(g, "web_person", None)


def require_person() -> str:
    """The signed-in person, or Unauthorized (the error handler sends browsers to /login)."""
    person = current_person()
    if not person:
        raise Unauthorized("sign in to use the console")
    return person


def person_name(key: str | None) -> str:
    """A person's display name in the console's policy; no key is the hub's own doing."""
    return policy_model.person_name(the_hub().policy, key, nobody="the hub")


def severity_class(key: str | None) -> str:
    """A CSS class by the severity's rank (the text always names the severity too)."""
    severity = the_hub().policy.severities.get(key or "")
    if severity is None:
        return "sev-d"
    return SEVERITY_CLASSES[min(severity.rank, len(SEVERITY_CLASSES) - 1)]


def clock(now: datetime | None = None) -> Clock:
    """A Clock in the policy's time zone."""
    return Clock(the_hub().policy.timezone, now or datetime.now(UTC))


def local_time(dt: datetime | None, style: str = "auto") -> str:
    """A time in the policy's zone with its offset: `14:30 CET (+01:00)` (see hub.web.clock)."""
    return clock().local(dt, style)


def time_tag(dt: datetime | None, style: str = "auto") -> Markup:
    """A <time> element: machine-readable ISO, local text for people."""
    return clock().tag(dt, style)


def countdown(due: datetime | None, now: datetime) -> Markup:
    """`in 4 min` or `overdue 3 min`, in an element the page script keeps ticking."""
    return clock(now).countdown(due)


def safe_next(value: str | None) -> str:
    """A local path to go to after sign-in (never another site)."""
    value = (value or "").strip()
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return value if "\\" not in value else "/"


def iso_local(value: str | None, style: str = "full") -> str:
    """An ISO 8601 text (as the review documents carry) in local time with its offset."""
    if not value:
        return "—"
    try:
        return local_time(datetime.fromisoformat(str(value)), style)
    except ValueError:
        return str(value)


def render(template: str, **context) -> str:
    """Render a console page with the person, the policy and the helpers in reach."""
    hub = the_hub()
    person = current_person()
    context.setdefault("title", "Major Incident Hub")
    return render_template(
        template,
        me=person,
        me_name=person_name(person) if person else None,
        is_admin=is_admin(hub.policy, person),
        policy=hub.policy,
        **context,
    )


def init_filters(app) -> None:
    """Register the template filters and globals the console's templates use."""
    app.jinja_env.filters.update(
        local=local_time,
        time_tag=time_tag,
        person=person_name,
        role=role_label,
        sev=severity_class,
        nl2br=nl2br,
        iso_local=iso_local,
        safe_url=safe_url,
        redact=redact_text,
    )
    app.jinja_env.globals.update(countdown=countdown, short_roles=SHORT_ROLES)
