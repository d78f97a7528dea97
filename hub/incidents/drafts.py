"""Approval of stakeholder updates: an update posted by someone other than its approver waits.

A severity with `approve_updates: <role>` (the Communications Owner, usually) makes every
stakeholder update of its running major incidents go through the holder of that role: an
update anyone else posts (API, console, Teams, email) becomes a draft (`UpdateDraft`, the
whole request kept as JSON), its approvers get a card with Approve / Edit (the bot's
Action.Execute, or a signed link) and the room shows it. Approving posts it the normal way
(`operations.post_update`: the cadence restarts, the stakeholders are told). The policy is
read as it is now, not as frozen at declaration: turning approval off (an unreachable
Communications Owner) lets the next update through at once.

Approvers: the role's holders on the incident; when nobody holds it, the people on duty for
it in the roster; and the policy's administrators. Their own updates go out directly.
Every draft, edit and approval is on the timeline and in the audit log.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.errors import Conflict, Forbidden, Invalid, NotFound
from hub.app.models import Incident, TimelineEntry, UpdateDraft
from hub.app.timefmt import local_hhmm
from hub.core import lifecycle
from hub.core.permissions import holders, is_admin, on_duty, role_label
from hub.incidents import operations as ops
from hub.incidents.mobilisation import context, running, settings_of
from hub.incidents.page_links import Claim, sign
from hub.incidents.timeline import add_timeline
from hub.notifications import notices
from hub.notifications import notify as n
from hub.policy.model import Policy, channel_names, person_name

TEMPLATE = "update-draft"
MAX_TEXT = 20_000


def approver_role(policy: Policy, incident: Incident) -> str | None:
    """The role that approves this incident's stakeholder updates now, or None."""
    if not running(incident):
        return None
    severity = policy.severities.get(incident.severity)
    return severity.approve_updates if severity else None


def approvers(policy: Policy, incident: Incident, role: str) -> list[str]:
    """Who approves: the role's holders, else the people on duty for it in the roster."""
    held = holders(incident, role)
    if held:
        return held
    return [key for key in policy.people if on_duty(policy, key, role)]


def may_approve(policy: Policy, incident: Incident, person: str | None, role: str) -> bool:
    """An approver of the role, or a policy administrator."""
    return bool(person) and (
        person in approvers(policy, incident, role) or is_admin(policy, person)
    )


def awaiting(session: Session, incident: Incident) -> list[UpdateDraft]:
    """The incident's drafts waiting for approval, oldest first."""
    return list(
        session.scalars(
            select(UpdateDraft)
            .where(UpdateDraft.incident_id == incident.id, UpdateDraft.state == "awaiting")
            .order_by(UpdateDraft.id)
        )
    )


def get_draft(session: Session, incident: Incident, draft_id: int | str) -> UpdateDraft:
    """One draft of the incident (NotFound otherwise)."""
    try:
        ident = int(draft_id)
    except (TypeError, ValueError):
        raise NotFound(f"no draft {draft_id!r} in {incident.ref}") from None
    draft = session.get(UpdateDraft, ident)
    if draft is None or draft.incident_id != incident.id:
        raise NotFound(f"no draft {ident} in {incident.ref}")
    return draft


def draft_doc(draft: UpdateDraft) -> dict:
    """A draft as the API gives it."""
    return {
        "id": draft.id,
        "incident": f"INC-{draft.incident_id}",
        "state": draft.state,
        "author": draft.author,
        "text": draft.request.get("text", ""),
        "request": draft.request,
        "approver_role": draft.approver_role,
        "created_at": draft.created_at.isoformat(),
        "edits": draft.edits,
        "decided_at": draft.decided_at.isoformat() if draft.decided_at else None,
        "decided_by": draft.decided_by,
    }


def _clean(request: dict) -> dict:
    text = str(request.get("text") or "").strip()
    if not text:
        raise Invalid("an update needs text")
    if len(text) > MAX_TEXT:
        raise Invalid(f"an update is at most {MAX_TEXT} characters")
    return {**request, "text": text}


def submit_update(
    session: Session,
    policy: Policy,
    incident: Incident,
    request: dict,
    *,
    actor: str,
    now: datetime,
) -> TimelineEntry | UpdateDraft:
    """Post an update (`request`: `text` and the update's other fields), or keep it as a draft
    for approval when the severity asks for one and the actor is not an approver."""
    role = approver_role(policy, incident)
    if role is None or may_approve(policy, incident, actor, role):
        return publish(session, policy, incident, request, actor=actor, now=now)
    request = _clean(request)
    draft = UpdateDraft(
        incident_id=incident.id,
        author=actor,
        request=request,
        state="awaiting",
        approver_role=role,
        created_at=now,
        edits=0,
    )
    session.add(draft)
    session.flush()
    text = (
        f"Update drafted by {person_name(policy, actor)}, awaiting approval by the "
        f"{role_label(role)}: {request['text']}"
    )
    _record(session, incident, draft, ("update-draft", "update-drafted"), text, actor, now,
            after=request)  # fmt: skip
    _ask_approvers(session, policy, incident, draft, now)
    return draft


def publish(
    session: Session,
    policy: Policy,
    incident: Incident,
    request: dict,
    *,
    actor: str,
    now: datetime,
) -> TimelineEntry:
    """The update goes out the normal way (the update's other fields pass through)."""
    request = _clean(request)
    extra = {k: v for k, v in request.items() if k != "text"}
    return ops.post_update(
        session, policy, incident, request["text"], actor=actor, now=now, **extra
    )


def _open(policy: Policy, incident: Incident, draft: UpdateDraft, actor: str) -> None:
    if draft.state != "awaiting":
        by = person_name(policy, draft.decided_by)
        raise Conflict(f"draft {draft.id} of {incident.ref} was {draft.state} by {by} already")
    if not lifecycle.is_active(incident.state):
        raise Conflict(f"{incident.ref} is {incident.state}; updates are closed")
    if not may_approve(policy, incident, actor, draft.approver_role):
        raise Forbidden(
            f"only the {role_label(draft.approver_role)} of {incident.ref} (or a policy "
            "admin) approves or edits its drafted updates"
        )


def edit(
    session: Session,
    policy: Policy,
    incident: Incident,
    draft: UpdateDraft,
    text: str | None,
    *,
    actor: str,
    now: datetime,
    public_text: str | None = None,
) -> UpdateDraft:
    """Change a draft's text and/or its public text (for the public status page; empty: not
    shown there) before approving it; None keeps that one. The old and new texts are recorded."""
    _open(policy, incident, draft, actor)
    before = draft.request
    after = dict(before)
    if text is not None:
        after["text"] = text
    if public_text is not None:
        public_text = public_text.strip()
        if len(public_text) > MAX_TEXT:
            raise Invalid(f"a public text is at most {MAX_TEXT} characters")
        after["public_text"] = public_text or None
    after = _clean(after)
    old_public, new_public = before.get("public_text") or None, after.get("public_text") or None
    if after["text"] == before.get("text") and new_public == old_public:
        return draft
    draft.request = after
    draft.edits += 1
    draft.edited_by = actor
    said = [after["text"]] if after["text"] != before.get("text") else []
    if new_public != old_public:
        said.append(f"public text: {new_public}" if new_public else "public text removed")
    text = f"Drafted update {draft.id} edited by {person_name(policy, actor)}: " + "; ".join(said)
    data = {"before": before.get("text"), "after": after["text"]}
    if new_public != old_public:
        data.update(public_before=old_public, public_after=new_public)
    _record(
        session, incident, draft, ("update-draft-edited", "update-draft-edited"), text, actor,
        now, before=before, after=after, data=data,
    )  # fmt: skip
    return draft


def approve(
    session: Session,
    policy: Policy,
    incident: Incident,
    draft: UpdateDraft,
    *,
    actor: str,
    now: datetime,
    text: str | None = None,
    public_text: str | None = None,
) -> TimelineEntry:
    """Send a draft (edited first when `text` or `public_text` differs): it becomes the
    update, by its author."""
    _open(policy, incident, draft, actor)
    if text is not None or public_text is not None:
        edit(session, policy, incident, draft, text, actor=actor, now=now, public_text=public_text)
    draft.state, draft.decided_at, draft.decided_by = "approved", now, actor
    text = (
        f"Drafted update {draft.id} by {person_name(policy, draft.author)} approved by "
        f"{person_name(policy, actor)}"
    )
    _record(session, incident, draft, ("update-approved", "update-approved"), text, actor, now,
            after=draft.request)  # fmt: skip
    entry = publish(session, policy, incident, draft.request, actor=draft.author, now=now)
    session.flush()
    draft.entry_id = entry.id
    return entry


def may_discard(policy: Policy, incident: Incident, person: str | None, draft: UpdateDraft) -> bool:
    """Its author or its approver drops a draft unsent."""
    return bool(person) and (
        person == draft.author or may_approve(policy, incident, person, draft.approver_role)
    )


def discard(
    session: Session,
    policy: Policy,
    incident: Incident,
    draft: UpdateDraft,
    *,
    actor: str,
    now: datetime,
) -> UpdateDraft:
    """Drop a draft awaiting approval: nothing goes out (its author or its approver)."""
    if draft.state != "awaiting":
        by = person_name(policy, draft.decided_by)
        raise Conflict(f"draft {draft.id} of {incident.ref} was {draft.state} by {by} already")
    if not may_discard(policy, incident, actor, draft):
        raise Forbidden(
            f"only its author or the {role_label(draft.approver_role)} of {incident.ref} (or a "
            "policy admin) discards a drafted update"
        )
    draft.state, draft.decided_at, draft.decided_by = "discarded", now, actor
    text = (
        f"Drafted update {draft.id} by {person_name(policy, draft.author)} discarded by "
        f"{person_name(policy, actor)}: not sent"
    )
    _record(session, incident, draft, ("update-draft-discarded", "update-draft-discarded"),
            text, actor, now, before=draft.request)  # fmt: skip
    return draft


def _record(session, incident, draft, kinds, text, actor, now, *, before=None, after=None,
            data=None) -> None:  # fmt: skip
    """One step of a draft on the timeline (`kinds[0]`) and in the audit log (`kinds[1]`)."""
    add_timeline(session, incident, kinds[0], text, actor=actor, now=now,
                 data={"draft": draft.id, **(data or {})})  # fmt: skip
    audit.record(session, kinds[1], f"{incident.ref} draft {draft.id}", actor=actor, now=now,
                 before=before, after=after, incident_id=incident.id)  # fmt: skip


def approval_link(settings, incident: Incident, draft: UpdateDraft, person: str) -> str:
    """The signed URL on which `person` approves or edits the draft without signing in."""
    claim = Claim(
        incident.id,
        person,
        draft.approver_role,
        "approve-update",
        f"{draft.id}-{secrets.token_urlsafe(9)}",
    )
    token = sign(settings.secret_key, claim)
    return f"{settings.base_url}/incidents/{incident.ref}/drafts/{draft.id}/{token}"


def draft_context(policy: Policy, incident: Incident, draft: UpdateDraft) -> dict:
    """The `draft` part of a template context."""
    return {
        "id": draft.id,
        "text": draft.request.get("text", ""),
        "public_text": draft.request.get("public_text") or "",
        "author_name": person_name(policy, draft.author),
        "at_local": local_hhmm(draft.created_at, policy.timezone),
        "state": draft.state,
        "approver_label": role_label(draft.approver_role),
    }


def _ask_approvers(
    session: Session, policy: Policy, incident: Incident, draft: UpdateDraft, now: datetime
) -> int:
    """Each approver gets the draft (Teams card with Approve / Edit, email with the link)."""
    settings = settings_of(session)
    people = approvers(policy, incident, draft.approver_role)
    rows = 0
    for person in people:
        ctx = context(
            session,
            policy,
            incident,
            now,
            draft=draft_context(policy, incident, draft),
            approve_url=approval_link(settings, incident, draft, person),
        )
        rows += len(
            n.notify(
                session,
                settings,
                policy,
                incident,
                TEMPLATE,
                f"draft:{incident.ref}:{draft.id}",
                notices.person_recipients(policy, [person], channel_names()),
                ctx,
                now,
            )
        )
    names = ", ".join(person_name(policy, p) for p in people) or "nobody (no one holds the role)"
    add_timeline(
        session,
        incident,
        "notified",
        f"Drafted update {draft.id} sent to {names} for approval",
        now=now,
        touch=False,
        data={"draft": draft.id, "notifications": rows},
    )
    return rows
