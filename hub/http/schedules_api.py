"""On-call schedules over HTTP: the API (who is on call, overrides and swaps) and iCalendar feeds."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, current_app, jsonify, request

from hub.app.db import utcnow
from hub.app.errors import Forbidden, Invalid, NotFound
from hub.http import validate as v
from hub.http.auth import require_person
from hub.schedules import feeds
from hub.schedules import overrides as ov
from hub.schedules.views import schedule_doc, timelines

bp = Blueprint("schedules_api", __name__)


def _hub():
    return current_app.extensions["hub"]


def _doc(session, name: str, now: datetime, **kw) -> dict:
    hub = _hub()
    return schedule_doc(
        session, hub.policy, name, now=now, secret=hub.settings.secret_key,
        base_url=hub.settings.base_url, **kw,
    )  # fmt: skip


def _instant(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"{name}: expected ISO 8601 like 2026-03-01T08:00:00+01:00, got {text!r}"
        ) from None
    if value.tzinfo is None:
        raise Invalid(f"{name}: give a UTC offset (like +01:00 or Z)")
    return value


@bp.get("/api/v1/schedules")
def list_schedules():
    """Every schedule: who is on call now and next."""
    require_person()
    v.query(request.args, v.QUERIES["schedules_api.list_schedules"])  # no parameters: 422 for any
    now = utcnow()
    with _hub().db.session(write=False) as session:
        mine = ov.active_overrides(session, now)
        docs = [
            _doc(session, n, now, overrides=mine, detail=False) for n in _hub().policy.schedules
        ]
    return jsonify({"schedules": docs})


@bp.get("/api/v1/schedules/<name>")
def show_schedule(name: str):
    """One schedule: on call now, next, the shifts of the next 4 weeks, overrides, feed URL."""
    require_person()
    ov.schedule_or_404(_hub().policy, name)
    with _hub().db.session(write=False) as session:
        return jsonify(_doc(session, name, utcnow()))


@bp.post("/api/v1/schedules/<name>/overrides")
def create_override(name: str):
    """Take a shift (yourself or, as an admin, for anyone), or offer one as a swap."""
    actor = require_person()
    data = v.json_body(v.OVERRIDE)
    start, end = _instant("start", data["start"]), _instant("end", data["end"])
    hub, now = _hub(), utcnow()
    with hub.transaction() as session:
        row = ov.create_override(
            session, hub.policy, name, actor, data["person"].strip(), start, end, now=now
        )
        doc = ov.override_json(row)
    return jsonify(doc), 201


@bp.get("/api/v1/schedules/<name>/overrides")
def list_overrides(name: str):
    """The schedule's overrides and offered swaps that are not over."""
    require_person()
    ov.schedule_or_404(_hub().policy, name)
    with _hub().db.session(write=False) as session:
        rows = ov.list_overrides(session, name, utcnow())
        return jsonify({"overrides": [ov.override_json(r) for r in rows]})


@bp.post("/api/v1/schedules/<name>/overrides/<int:override_id>/accept")
def accept_override(name: str, override_id: int):
    """The person taking an offered shift accepts the swap."""
    actor = require_person()
    with _hub().transaction() as session:
        return jsonify(
            ov.override_json(ov.accept_swap(session, name, override_id, actor, now=utcnow()))
        )


@bp.delete("/api/v1/schedules/<name>/overrides/<int:override_id>")
def delete_override(name: str, override_id: int):
    """Remove an override or an offered swap."""
    actor = require_person()
    hub = _hub()
    with hub.transaction() as session:
        row = ov.remove_override(session, hub.policy, name, override_id, actor, now=utcnow())
        return jsonify(ov.override_json(row))


@bp.post("/api/v1/schedules/<name>/feed/revoke")
def revoke_schedule_feed(name: str):
    """Revoke the schedule's calendar URL (admins); the answer has the new one."""
    actor = require_person()
    hub = _hub()
    ov.schedule_or_404(hub.policy, name)
    if not (actor in hub.policy.people and hub.policy.people[actor].admin):
        raise Forbidden("only an admin may revoke a schedule's calendar link")
    return _revoke(f"schedule:{name}")


@bp.post("/api/v1/people/<key>/oncall-feed/revoke")
def revoke_person_feed(key: str):
    """Revoke a person's on-call calendar URL (the person or an admin)."""
    actor = require_person()
    people = _hub().policy.people
    if key not in people:
        raise NotFound(f"unknown person {key!r}")
    if actor != key and not people[actor].admin:
        raise Forbidden("only the person or an admin may revoke their calendar link")
    return _revoke(f"person:{key}")


def _revoke(subject: str):
    hub = _hub()
    with hub.transaction() as session:
        feeds.revoke(session, subject, now=utcnow())
        session.flush()
        url = feeds.feed_url(session, hub.settings.secret_key, hub.settings.base_url, subject)
    return jsonify({"ics_url": url})


def _ics(subject: str, title: str, pick) -> Response:
    hub, now = _hub(), utcnow()
    with hub.db.session(write=False) as session:
        feeds.check_token(session, hub.settings.secret_key, subject, request.args.get("token"))
        lines = timelines(hub.policy, ov.active_overrides(session, now), now)
    body = feeds.build_calendar(hub.policy, title, pick(lines), now=now)
    return Response(
        body, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=300"}
    )


@bp.get("/schedules/<name>.ics")
def schedule_feed(name: str):
    """The schedule's shifts of the next 4 weeks as iCalendar (signed URL)."""
    ov.schedule_or_404(_hub().policy, name)
    return _ics(f"schedule:{name}", f"On call: {name}",
                lambda lines: [(name, s) for s in lines[name]])  # fmt: skip


@bp.get("/people/<key>/oncall.ics")
def person_feed(key: str):
    """A person's shifts in every schedule, next 4 weeks, as iCalendar (signed URL)."""
    policy = _hub().policy
    return _ics(f"person:{key}", f"On call: {key}",
                lambda lines: feeds.person_shifts(policy, key, lines))  # fmt: skip
