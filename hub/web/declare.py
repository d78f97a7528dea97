"""Declare: the service desk's form, with a live preview of the classification."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

from hub.app.db import utcnow
from hub.app.errors import Invalid
from hub.app.models import Incident
from hub.core.classify import Report
from hub.incidents import reports
from hub.policy.model import IMPACTS
from hub.web.common import local_time, render, require_person, the_hub
from hub.web.preview import classification_preview

bp = Blueprint("declare", __name__)
LIMITS = {"title": 300, "description": 20_000, "reporter": 320}


def report_from_form(form, person: str, policy) -> Report:
    """A Report from the declare form (Invalid on bad input)."""
    values = {k: (form.get(k) or "").replace("\r\n", "\n").strip() for k in LIMITS}
    for key, limit in LIMITS.items():
        if len(values[key]) > limit:
            raise Invalid(f"{key} is longer than {limit} characters")
    impact = form.get("impact") or None
    if impact not in (None, *IMPACTS):
        raise Invalid("impact must be outage, degraded or minor")
    users = (form.get("affected_users") or "").strip()
    if users and not users.isdigit():
        raise Invalid("affected users must be a whole number")
    services = [s for s in form.getlist("services") if s in policy.services]
    services += [s.strip() for s in (form.get("other_services") or "").split(",") if s.strip()]
    reports.require_known_services(services, policy)
    reporter = values["reporter"] or person
    found = policy.people.get(reporter) or (
        policy.person_by_email(reporter) if "@" in reporter else None
    )
    return Report(
        title=values["title"],
        text=values["description"],
        services=tuple(services),
        impact=impact,
        affected_users=int(users) if users else None,
        security=True if form.get("security") else None,
        source="web",
        reporter=found.key if found else reporter.lower(),
    )


def preview_context(form, person: str) -> dict:
    """The classification (and correlation) the form would get now."""
    hub, now = the_hub(), utcnow()
    report = report_from_form(form, person, hub.policy)
    with hub.db.session(write=False) as session:
        result = classification_preview(session, hub.policy, report, now)
        join = reports.correlation(session, hub.policy, result, now).join
        found = session.get(Incident, join.id) if join is not None else None
        joins = None
        if found is not None:
            joins = {
                "ref": found.ref,
                "title": found.title,
                "severity": found.severity,
                "state": found.state.replace("_", " "),
                "since": local_time(found.created_at, "auto"),
            }
    return {"result": result, "joins": joins, "has_title": bool(report.title)}


def _page(form, preview=None):
    chosen = form.getlist("services") if hasattr(form, "getlist") else []
    return render(
        "declare.html",
        title="Declare an incident",
        form=form,
        chosen=chosen,
        preview=preview,
        impacts=IMPACTS,
    )


@bp.get("/declare")
def declare():
    """The empty form."""
    require_person()
    return _page({})


@bp.post("/declare")
def submit():
    """Create the incident, or (the Preview button, without script) show the preview."""
    hub, person = the_hub(), require_person()
    form = request.form
    try:
        if form.get("action") == "preview":
            return _page(form, preview_context(form, person))
        report = report_from_form(form, person, hub.policy)
    except Invalid as exc:
        flash(exc.message, "error")
        return _page(form), 422
    if not report.title:
        flash("A title is needed: what is broken, in a line.", "error")
        return _page(form), 422
    with hub.transaction() as session:
        incident, created = reports.create_incident(
            session, hub.policy, report, actor=person, now=utcnow(), description=report.text
        )
        ref, severity, major = incident.ref, incident.severity, incident.major
    if created:
        flash(
            f"{ref} opened as {severity} ({'major incident' if major else 'not major'}).", "success"
        )
    else:
        flash(f"Your report was added to {ref}, an open incident of the same problem.", "success")
    return redirect(url_for("room.room", ref=ref), code=303)


@bp.post("/declare/preview")
def preview():
    """The preview alone, for the page script."""
    try:
        context = preview_context(request.form, require_person())
    except Invalid as exc:
        return render("_partials/classification.html", problem=exc.message)
    return render("_partials/classification.html", **context)
