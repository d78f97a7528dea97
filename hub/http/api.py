"""REST API v1: thin views that validate, call the incident operations, and answer."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from hub.app.db import utcnow
from hub.app.errors import Invalid
from hub.app.models import UpdateDraft
from hub.core.classify import Report
from hub.http import validate as v
from hub.http.auth import require_person
from hub.http.openapi import build_openapi
from hub.incidents import drafts, records
from hub.incidents import operations as ops
from hub.incidents.act import act
from hub.incidents.classification import classify_again
from hub.incidents.reports import classify_new, create_incident, require_known_services
from hub.incidents.search import Filters, parse_day, search_incidents
from hub.incidents.serialize import incident_detail, incident_summary
from hub.incidents.split import split_report
from hub.notifications.delivery_report import count_rows, deliveries_json, summary_rows
from hub.notifications.suppression import unreachable_by_email

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _hub():
    return current_app.extensions["hub"]


@bp.before_request
def _authenticate():
    if request.endpoint != "api.openapi":
        require_person()


@bp.post("/incidents")
def create():
    """Report an incident; it is classified and, if major, the workflow starts."""
    actor = require_person()
    data = v.json_body(v.CREATE)
    hub = _hub()
    policy = hub.policy
    impact = data.get("impact")  # one of v.IMPACTS, checked with the body
    report = Report(
        title=data["title"].strip()[:300],
        text=data.get("description") or "",
        services=tuple(data.get("services") or ()),
        impact=impact,
        affected_users=data.get("affected_users"),
        security=data.get("security"),
        source="api",
        reporter=_reporter(data.get("reporter"), actor, policy),
    )
    require_known_services(report.services, policy)
    now = utcnow()
    with hub.db.reading() as connection:  # classified before taking the write lock
        classified = classify_new(connection, policy, report, now)
    with hub.transaction() as session:
        incident, created = create_incident(
            session,
            policy,
            report,
            actor=actor,
            now=now,
            classified=classified,
            description=data.get("description") or "",
            correlate=data.get("correlate", True),
        )
    doc = incident_summary(incident)  # columns only: built after the commit, outside the lock
    doc["correlated"] = not created
    return jsonify(doc), 201 if created else 200


def _reporter(value: str | None, actor: str, policy) -> str:
    if not value:
        return actor
    value = value.strip()
    if value in policy.people:
        return value
    person = policy.person_by_email(value)
    if person:
        return person.key
    if "@" in value:
        return value.lower()
    raise Invalid(f"unknown reporter {value!r}: give a person key or an email address")


@bp.get("/incidents")
def list_incidents():
    """Incidents, newest first, filtered by state, severity, major, service, dates and "mine",
    and found by words (`q`) in titles, descriptions, updates and reviews."""
    actor = require_person()
    policy = _hub().policy
    wanted = v.list_filters(request.args, policy.severities, policy.services)  # 422: bad ones
    filters = Filters(
        q=wanted["q"] or "",
        state=tuple(wanted["state"] or ()),
        severity=tuple(wanted["severity"] or ()),
        service=tuple(wanted["service"] or ()),
        major=wanted["major"],
        since=parse_day(wanted["since"], policy.timezone),
        until=parse_day(wanted["until"], policy.timezone, end=True, name="until"),
        mine=actor if wanted["mine"] else None,
        limit=wanted["limit"],
    )
    with _hub().db.session(write=False) as session:
        docs = [incident_summary(i) for i in search_incidents(session, filters)]
    return jsonify({"incidents": docs})


@bp.get("/incidents/<ref>")
def show(ref: str):
    """One incident with its timeline, roles, timers and notifications."""
    with _hub().db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        now = utcnow()
        everything = "all" in (v.query(request.args, v.SHOW_QUERY)["notifications"] or ())
        doc = _detail(session, incident, now, everything)
        doc["drafts"] = [drafts.draft_doc(d) for d in drafts.awaiting(session, incident)]
        doc["deliveries"] = deliveries_json(session, _hub().settings, _hub().policy, incident, now)
        return jsonify(doc)


NOTIFICATIONS_SHOWN = 200  # the latest; `?notifications=all` lists every one


def _detail(session, incident, now, everything=False) -> dict:
    """`incident_detail` with the latest NOTIFICATIONS_SHOWN notifications (all of them if
    `everything`: `?notifications=all`) and `notifications_total`."""
    shown = summary_rows(session, incident.id, None if everything else NOTIFICATIONS_SHOWN)
    doc = incident_detail(incident, now, _unreachable(session, incident), shown)
    doc["notifications_total"] = len(shown) if everything else count_rows(session, incident.id)
    return doc


def _unreachable(session, incident) -> dict[str, str]:
    """Role holders the hub cannot mail (a permanent bounce suppressed their address)."""
    people = [r.person for r in incident.roles if r.active and r.person]
    return unreachable_by_email(session, _hub().policy, people)


def _act(ref: str, spec, action: str, run, refusal=None):
    """Do `action` on one incident in one transaction through `act` (403 if the caller may
    not: `hub.core.permissions`, the console's rules), and answer with the incident.

    `run(session, policy, incident, data, actor, now)`: the operation; a dict it returns is
    added to the answer.
    """
    actor = require_person()
    data = v.json_body(spec)
    hub = _hub()
    now = utcnow()
    with hub.transaction() as session:
        incident, extra = act(
            session,
            hub.policy,
            ref,
            actor,
            action,
            lambda i: (i, run(session, hub.policy, i, data, actor, now)),
            now=now,
            refusal=refusal,
        )
        session.flush()
        doc = _detail(session, incident, now)
    if extra:
        doc.update(extra)
    return jsonify(doc)


@bp.post("/incidents/<ref>/acknowledge")
def acknowledge(ref: str):
    """Acknowledge the roles the caller holds (or the role the escalation paged them for)."""
    return _act(
        ref,
        v.ACK,
        "acknowledge",
        lambda s, p, i, d, a, n: {"acknowledged": ops.acknowledge(s, p, i, actor=a, now=n)},
        refusal=lambda incident: None,  # the operation answers: 409 once over, else its 403
    )


@bp.post("/incidents/<ref>/updates")
def post_update(ref: str):
    """Post a progress update: 200 with the incident, or 202 with the draft when the severity
    has it approved first (`approve_updates`) and the caller is not its approver."""

    def run(s, p, i, d, a, n):
        done = drafts.submit_update(s, p, i, d, actor=a, now=n)
        return {"draft": drafts.draft_doc(done)} if isinstance(done, UpdateDraft) else None

    answer = _act(ref, v.UPDATE, "update", run)
    if answer.get_json().get("draft"):
        return jsonify({"draft": answer.get_json()["draft"]}), 202
    return answer


@bp.post("/incidents/<ref>/drafts/<int:draft>/approve")
def approve_draft(ref: str, draft: int):
    """Approve a drafted update (its approver: the severity's `approve_updates` role holder, or
    an admin), with `text` and `public_text` edits first; it goes out as its author's update."""

    def run(s, p, i, d, a, n):
        found = drafts.get_draft(s, i, draft)
        drafts.approve(s, p, i, found, actor=a, now=n, text=d.get("text"),
                       public_text=d.get("public_text"))  # fmt: skip
        return {"draft": drafts.draft_doc(found)}

    return _act(ref, v.APPROVE_DRAFT, "update", run)


@bp.post("/incidents/<ref>/drafts/<int:draft>/discard")
def discard_draft(ref: str, draft: int):
    """Discard a drafted update unsent (its author, or its approver); the incident with it."""

    def run(s, p, i, d, a, n):
        found = drafts.discard(s, p, i, drafts.get_draft(s, i, draft), actor=a, now=n)
        return {"draft": drafts.draft_doc(found)}

    return _act(ref, {}, "update", run, refusal=lambda incident: None)


@bp.post("/incidents/<ref>/roles")
def assign_role(ref: str):
    """Give a role to a person."""
    return _act(
        ref,
        v.ROLE,
        "assign",
        lambda s, p, i, d, a, n: (
            ops.assign_role(s, p, i, d["role"], d["person"], actor=a, now=n) and None
        ),
    )


@bp.post("/incidents/<ref>/classify")
def classify(ref: str):
    """Re-classify with a reason (the severity in any case)."""
    return _act(
        ref,
        v.CLASSIFY,
        "classify",
        lambda s, p, i, d, a, n: (
            classify_again(s, p, i, d["severity"], d["reason"], actor=a, now=n) and None
        ),
    )


@bp.post("/incidents/<ref>/resolve")
def resolve(ref: str):
    """Resolve with a summary."""
    return _act(
        ref,
        v.RESOLVE,
        "resolve",
        lambda s, p, i, d, a, n: ops.resolve(s, p, i, d["summary"], actor=a, now=n) and None,
    )


@bp.post("/incidents/<ref>/cancel")
def cancel(ref: str):
    """Cancel a false alarm, with a reason: whoever may re-classify it, or its reporter while
    nobody else has reported it and it is not mobilised (others' reports confirm it)."""
    return _act(
        ref,
        v.STATE,
        "cancel",
        lambda s, p, i, d, a, n: ops.set_state(
            s, i, "cancel", d["reason"], actor=a, now=n, policy=p
        ),
    )


@bp.post("/incidents/<ref>/close")
def close(ref: str):
    """Close a resolved incident, with a reason."""
    return _act(
        ref,
        v.STATE,
        "close",
        lambda s, p, i, d, a, n: ops.set_state(s, i, "close", d["reason"], actor=a, now=n),
    )


@bp.post("/incidents/<ref>/merge")
def merge(ref: str):
    """Merge a duplicate into another incident (it changes both: the caller acts on both)."""

    def run(s, p, i, d, a, n):
        act(
            s,
            p,
            d["into"],
            a,
            "merge",
            lambda target: ops.merge_into(s, i, target, actor=a, now=n, policy=p),
            now=n,
        )

    return _act(ref, v.MERGE, "merge", run)


@bp.post("/incidents/<ref>/reports/<int:report>/split")
def split(ref: str, report: int):
    """Split a joined report out into its own incident, classified afresh; its reporter is told."""

    def run(s, p, i, d, a, n):
        new = split_report(s, p, i, report, d.get("reason") or "", actor=a, now=n)
        return {"split": {"report": report, "into": new.ref, "severity": new.severity}}

    return _act(ref, v.SPLIT, "split", run)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    return jsonify(build_openapi(current_app))
