"""Review reminders: assign the Problem Manager, remind before the deadline, chase when overdue.

Timers (database-owned, see hub/incidents/timers.py), each re-checking the review when it fires:
- `review-reminder` REMIND_BEFORE the deadline (half the window if shorter): the Problem Manager;
- `review-overdue` OVERDUE_AFTER the deadline: the Problem Manager (or, once submitted, the
  Major Incident Manager, whose approval is then awaited);
- `review-escalate` ESCALATE_AFTER the deadline, repeating: the Major Incident Manager and the
  Problem Manager, until the review is submitted;
- `action-due-soon` the morning before an open action item's due date: its owner (when a
  person), once;
- `action-overdue` the morning after an open action item's due date, repeating weekly: its
  owner (when a person) and the Problem Manager.
These sit beside the generic SLA marks the workflow schedules at resolution (`sla-review`:
warnings at 50 % and 80 % of the window, the breach at 100 %, to the PM and the MIM); the
offsets keep the two from arriving at the same moment, and these say what is still missing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from hub.app.models import ActionItem, Review, Timer
from hub.app.timefmt import local_full
from hub.core.permissions import MIM, PM, holders, review_owner
from hub.incidents import timeline, timers
from hub.incidents.mobilisation import context, settings_of
from hub.incidents.timer_actions import action
from hub.notifications import notices
from hub.notifications import notify as n
from hub.policy.model import Policy, channel_names, person_name
from hub.reviews.content import OPEN_ITEM, TEXT_FIELDS, missing_sections
from hub.reviews.docs import STATE_LABELS

REMIND_BEFORE = timedelta(hours=12)
OVERDUE_AFTER = timedelta(hours=1)
ESCALATE_AFTER = timedelta(hours=24)
ESCALATIONS = 5  # repeats of review-escalate
ITEM_REPEATS = 8  # weekly reminders of an overdue action item
ITEM_HOUR = time(9, 0)  # local time of the action-item reminder, the day after it was due
REVIEW_KINDS = ("review-reminder", "review-overdue", "review-escalate")


def review_context(
    policy: Policy,
    review: Review,
    base_url: str,
    *,
    escalated: bool = False,
    items: list[ActionItem] = (),
) -> dict:
    """The `review` part of a notification context."""
    incident = review.incident
    pm = review_owner(incident)
    return {
        "state": review.state,
        "state_label": STATE_LABELS.get(review.state, review.state),
        "due_at_local": local_full(review.due_at, policy.timezone) if review.due_at else None,
        "url": f"{base_url}/incidents/{incident.ref}/review",  # the console's review editor
        "api_url": f"{base_url}/api/v1/incidents/{incident.ref}/review",
        "problem_manager_name": person_name(policy, pm, nobody=None),
        "missing": missing_sections({f: getattr(review, f) for f in TEXT_FIELDS}),
        "escalated": escalated,
        "overdue_items": [
            {
                "title": i.title,
                "owner_name": person_name(policy, i.owner, nobody=None),
                "due": i.due.isoformat() if i.due else None,
                "priority": i.priority,
            }
            for i in items
        ],
    }


def send(
    session: Session,
    policy: Policy,
    review: Review,
    template: str,
    key: str,
    people: list[str],
    now: datetime,
    **extra,
) -> int:
    """Notify people (on every channel) with the incident context plus `review`; rows written."""
    settings = settings_of(session)
    ctx = context(
        session,
        policy,
        review.incident,
        now,
        review=review_context(policy, review, settings.base_url, **extra),
    )
    rows = n.notify(
        session,
        settings,
        policy,
        review.incident,
        template,
        key,
        notices.person_recipients(policy, dict.fromkeys(people), channel_names()),
        ctx,
        now,
    )
    return len(rows)


def on_opened(
    session: Session, policy: Policy, review: Review, pm: str | None, *, now: datetime
) -> None:
    """Tell the Problem Manager (else the MIM) and set the reminder timers."""
    incident = review.incident
    people = [pm] if pm else holders(incident, MIM)
    send(session, policy, review, "review-assigned", f"review-assigned:{incident.ref}", people, now)
    if review.due_at is None:
        return
    window = review.due_at - (incident.resolved_at or now)
    remind_at = review.due_at - min(REMIND_BEFORE, window / 2)
    data = {"review": review.id}
    for kind, at in (
        ("review-reminder", remind_at),
        ("review-overdue", review.due_at + OVERDUE_AFTER),
        ("review-escalate", review.due_at + ESCALATE_AFTER),
    ):
        key = (
            timers.timer_key(kind, incident, 1)
            if kind == "review-escalate"
            else timers.timer_key(kind, incident)
        )
        timers.schedule(session, incident, key, kind, at, {**data, "count": 1}, now=now)


def on_step(session: Session, policy: Policy, review: Review, name: str, *, now: datetime) -> None:
    """Once approved, nothing is left to chase."""
    if name == "approve":
        timers.cancel(
            timers.pending(review.incident, where=lambda t: t.kind in REVIEW_KINDS),
            "review approved",
            now,
        )


def _review_of(session: Session, timer: Timer) -> Review | None:
    return session.get(Review, int(timer.data.get("review", 0)))


def _skip(timer: Timer, reason: str, now: datetime) -> str:
    timers.cancel([timer], reason, now)
    return "cancelled"


@action("review-reminder")
def remind(session, policy, incident, timer, now) -> str:
    """Before the deadline: remind the Problem Manager of the review and what is still empty."""
    review = _review_of(session, timer)
    if review is None or review.state != "draft":
        return _skip(timer, "review submitted" if review else "no review", now)
    people = holders(incident, PM) or holders(incident, MIM)
    send(session, policy, review, "review-reminder", timer.key, people, now)
    timeline.add_timeline(
        session,
        incident,
        "reminder",
        "Reminded "
        + (", ".join(person_name(policy, p) for p in people) or "nobody")
        + " that the post-incident review is due",
        now=now,
        touch=False,
    )
    return "fired"


@action("review-overdue", "review-escalate")
def overdue(session, policy, incident, timer, now) -> str:
    """Past the deadline: chase whoever holds the review up; escalations repeat."""
    review = _review_of(session, timer)
    if review is None or review.state not in ("draft", "in_review"):
        return _skip(timer, f"review is {review.state if review else 'gone'}", now)
    pm = holders(incident, PM)
    mim = holders(incident, MIM)
    escalated = timer.kind == "review-escalate"
    # submitted: the approval is what is late; else the PM, and the MIM once escalated
    people = mim if review.state == "in_review" else (mim + pm) if escalated else (pm or mim)
    send(session, policy, review, "review-overdue", timer.key, people, now, escalated=escalated)
    names = ", ".join(person_name(policy, p) for p in dict.fromkeys(people)) or "nobody"
    timeline.add_timeline(
        session,
        incident,
        "reminder",
        (
            "Escalated the overdue post-incident review to "
            if escalated
            else "Post-incident review overdue; told "
        )
        + names,
        now=now,
        touch=False,
    )
    count = int(timer.data.get("count", 1))
    if escalated and count < ESCALATIONS:
        timers.schedule(
            session,
            incident,
            timers.timer_key(timer.kind, incident, count + 1),
            timer.kind,
            now + ESCALATE_AFTER,
            {**timer.data, "count": count + 1},
            now=now,
        )
    return "fired"


def item_due_moment(item: ActionItem, tz: str) -> datetime | None:
    """When an open item counts as overdue: ITEM_HOUR local time the day after its due date."""
    if item.due is None:
        return None
    return datetime.combine(item.due + timedelta(days=1), ITEM_HOUR, ZoneInfo(tz))


def schedule_item(
    session: Session, policy: Policy, review: Review, item: ActionItem, *, now: datetime
) -> None:
    """(Re)arm the overdue reminder of an action item; cancel it once done or re-dated."""
    incident = review.incident
    current = item.due.isoformat() if item.due and item.status in OPEN_ITEM else None
    stale = timers.pending(
        incident,
        where=lambda t: (
            t.kind in ("action-overdue", "action-due-soon")
            and t.data.get("item") == item.id
            and t.data.get("as") != current
        ),
    )
    timers.cancel(stale, "action item changed", now)
    at = item_due_moment(item, policy.timezone)
    if at is None or item.status not in OPEN_ITEM:
        return
    soon = at - timedelta(days=2)  # the morning before the due date
    if soon > now:
        timers.schedule(
            session,
            incident,
            timers.timer_key("action-due-soon", incident, item.id, item.due.isoformat()),
            "action-due-soon",
            soon,
            {"review": review.id, "item": item.id, "as": current},
            now=now,
        )
    key = timers.timer_key("action-overdue", incident, item.id, item.due.isoformat(), 1)
    timers.schedule(
        session,
        incident,
        key,
        "action-overdue",
        max(at, now),
        {"review": review.id, "item": item.id, "as": current, "count": 1},
        now=now,
    )


@action("action-due-soon")
def item_due_soon(session, policy, incident, timer, now) -> str:
    """An open action item is due tomorrow: tell its owner (a person of the policy), once."""
    review = _review_of(session, timer)
    item = session.get(ActionItem, int(timer.data.get("item", 0)))
    if review is None or item is None or item.status not in OPEN_ITEM:
        return _skip(timer, "action item closed", now)
    if item.owner not in policy.people:
        return _skip(timer, "the owner is not a person of the policy", now)
    send(session, policy, review, "action-due-soon", timer.key, [item.owner], now, items=[item])
    return "fired"


@action("action-overdue")
def item_overdue(session, policy, incident, timer, now) -> str:
    """An action item is past its due date and still open: tell its owner and the PM."""
    review = _review_of(session, timer)
    item = session.get(ActionItem, int(timer.data.get("item", 0)))
    if review is None or item is None or item.status not in OPEN_ITEM:
        return _skip(timer, "action item closed", now)
    people = [p for p in (item.owner,) if p in policy.people]
    people += holders(incident, PM)
    send(session, policy, review, "review-overdue", timer.key, people, now, items=[item])
    count = int(timer.data.get("count", 1))
    if count < ITEM_REPEATS:
        key = timers.timer_key("action-overdue", incident, item.id, item.due.isoformat(), count + 1)
        timers.schedule(
            session,
            incident,
            key,
            "action-overdue",
            now + timedelta(days=7),
            {**timer.data, "count": count + 1},
            now=now,
        )
    return "fired"
