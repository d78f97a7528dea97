"""The incident room: header, roles, timeline, chart, and the actions people take on it."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

from hub.app.db import utcnow
from hub.app.errors import Conflict, Invalid, NotFound
from hub.core import permissions
from hub.incidents import operations as ops
from hub.incidents import records, tasks
from hub.incidents.act import act
from hub.incidents.classification import classify_again
from hub.incidents.drafts import submit_update
from hub.incidents.split import split_report
from hub.policy.model import ROLE_NAMES
from hub.web.common import person_name, render, require_person, the_hub
from hub.web.drafts import room_drafts, submitted
from hub.web.preview import update_preview
from hub.web.room_data import FILTERS, load_room
from hub.web.subscriptions import following

bp = Blueprint("room", __name__)
MAX_TEXT = 20_000


def _form(name: str, limit: int = MAX_TEXT) -> str:
    value = (request.form.get(name) or "").replace("\r\n", "\n").strip()
    if len(value) > limit:
        raise Invalid(f"{name} is {len(value)} characters long; the most is {limit}")
    return value


def room_page(
    ref: str, *, draft: str = "", preview=None, status: int = 200, drafts: dict | None = None
):
    """Render the room (optionally with an update draft and its preview, or the text of a
    refused resolve or re-classify in `drafts`)."""
    hub, person, now = the_hub(), require_person(), utcnow()
    shown = request.args.get("show", "all")
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        ctx = load_room(session, incident, hub.policy, now, shown)
        if shown in FILTERS and shown != "all":
            ctx["items"] = [i for i in ctx["items"] if i.source == shown]
        body = render(
            "incident.html",
            title=f"{incident.ref} {incident.title}",
            now=now,
            shown=shown,
            filters=FILTERS,
            can=permissions.allowed(hub.policy, incident, person),
            held=permissions.held_roles(incident, person),
            ticks={r: permissions.ticks_task(hub.policy, incident, person, r) for r in ROLE_NAMES},
            role_names=ROLE_NAMES,
            draft=draft,
            drafts=drafts or {},
            preview=preview,
            update_drafts=room_drafts(session, hub.policy, incident, person),
            following=following(session, hub.policy, person, incident),
            **ctx,
        )
    return body, status


@bp.get("/incidents/<ref>")
def room(ref: str):
    """The incident room."""
    return room_page(ref)


def _act(ref: str, action: str, run, done: str, kept: dict | None = None):
    """Do `action` through `act` in one transaction, and say what happened. Refused, the
    room shows again with the text the person typed (`kept`: update, summary, reason)."""
    hub, person, now = the_hub(), require_person(), utcnow()
    try:
        with hub.transaction() as session:
            message = act(
                session,
                hub.policy,
                ref,
                person,
                action,
                lambda incident: run(session, hub.policy, incident, person, now),
                now=now,
            )
    except (Invalid, Conflict) as exc:
        if kept:
            flash(f"Not done: {exc.message}. Your text is still below.", "error")
            kept = dict(kept)
            return room_page(ref, draft=kept.pop("update", ""), drafts=kept, status=exc.status)
        flash(exc.message, "error")
    except NotFound:
        raise
    else:
        flash(message or done, "success")
    return redirect(url_for("room.room", ref=ref), code=303)


@bp.post("/incidents/<ref>/acknowledge")
def acknowledge(ref: str):
    """Acknowledge the roles the person holds."""

    def run(s, p, i, a, n):
        acked = ops.acknowledge(s, p, i, actor=a, now=n)
        if not acked:
            return "You had already acknowledged."
        return "Acknowledged as " + ", ".join(permissions.role_label(r) for r in acked) + "."

    return _act(ref, "acknowledge", run, "Acknowledged.")


@bp.post("/incidents/<ref>/updates")
def post_update(ref: str):
    """Post an update, or (the Preview button, without script) show what it would send."""
    text = _form("text")
    public_text = _form("public_text")
    if request.form.get("action") == "preview":
        return _preview_page(ref, text)
    return _act(
        ref,
        "update",
        lambda s, p, i, a, n: submitted(
            submit_update(s, p, i, {"text": text, "public_text": public_text}, actor=a, now=n)
        ),
        "Update posted.",
        kept={"update": text, "public_text": public_text},
    )


def _preview_page(ref: str, text: str):
    hub, person, now = the_hub(), require_person(), utcnow()
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        preview = update_preview(hub.settings, hub.policy, incident, text, person, now)
    return room_page(ref, draft=text, preview=preview)


@bp.post("/incidents/<ref>/updates/preview")
def preview_update(ref: str):
    """The preview alone, for the page script."""
    hub, person, now = the_hub(), require_person(), utcnow()
    text = _form("text")
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        preview = update_preview(hub.settings, hub.policy, incident, text, person, now)
    return render("_partials/update_preview.html", preview=preview)


@bp.post("/incidents/<ref>/tasks/<int:n>")
def tick_task(ref: str, n: int):
    """Tick a task of the person's role (or untick it: done=false)."""
    done = request.form.get("done", "true") != "false"
    note = _form("note", tasks.MAX_NOTE)

    def run(s, p, i, a, now):
        tasks.tick_task(s, p, i, n, done=done, note=note, actor=a, now=now)
        return f"Task {n} {'done' if done else 'reopened'}."

    return _act(ref, "task", run, "Task updated.")


@bp.post("/incidents/<ref>/roles")
def assign_role(ref: str):
    """Give a role to a person."""
    role, who = _form("role", 60), _form("person", 120)
    return _act(
        ref,
        "assign",
        lambda s, p, i, a, n: (
            ops.assign_role(s, p, i, role, who, actor=a, now=n)
            and f"{permissions.role_label(role)}: {person_name(who)}."
        ),
        "Role assigned.",
    )


@bp.post("/incidents/<ref>/classify")
def classify(ref: str):
    """Re-classify with a reason."""
    severity, reason = _form("severity", 40), _form("reason")
    return _act(
        ref,
        "classify",
        lambda s, p, i, a, n: (
            classify_again(s, p, i, severity, reason, actor=a, now=n)
            and f"Re-classified as {severity}."
        ),
        "Re-classified.",
        kept={"reason": reason, "severity": severity},
    )


@bp.post("/incidents/<ref>/split")
def split(ref: str):
    """Split a joined report out into its own incident."""
    report, reason = _form("report", 12), _form("reason")
    if not report.isdigit():
        flash("Choose the report to split out.", "error")
        return redirect(url_for("room.room", ref=ref), code=303)
    return _act(
        ref,
        "split",
        lambda s, p, i, a, n: (
            f"Split out into {split_report(s, p, i, int(report), reason, actor=a, now=n).ref}."
        ),
        "Split out.",
    )


@bp.post("/incidents/<ref>/resolve")
def resolve(ref: str):
    """Resolve with a summary."""
    summary = _form("summary")
    return _act(
        ref,
        "resolve",
        lambda s, p, i, a, n: ops.resolve(s, p, i, summary, actor=a, now=n) and None,
        "Resolved.",
        kept={"summary": summary},
    )
