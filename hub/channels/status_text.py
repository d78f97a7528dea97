"""An update's text as the status page shows it: `templates/status/update.md.j2`, which the
policy may override (hub/policy/templates.py). Plain Markdown source: the page escapes it."""

from __future__ import annotations

import jinja2

from hub.app.templates import TEMPLATES
from hub.policy.templates import STANDARD, Kind, environment_for, register_kind, sample_context

STATUS_TEMPLATES = TEMPLATES / "status"
NAME = "update.md.j2"


def make_environment(loader: jinja2.BaseLoader, cls=jinja2.Environment) -> jinja2.Environment:
    """The status texts' environment over `loader` (the policy's overrides: sandboxed)."""
    return cls(
        loader=loader,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


ENV = make_environment(jinja2.FileSystemLoader(str(STATUS_TEMPLATES)))
register_kind(Kind("status", STATUS_TEMPLATES, make_environment, STANDARD, sample_context))


def render_status_text(settings, context: dict) -> str:
    """The status page's text of the update in `context` (a stakeholder notice's context)."""
    env = environment_for(settings, "status", "update") or ENV
    return env.get_template(NAME).render(context).strip()
