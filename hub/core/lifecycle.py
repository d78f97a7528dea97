"""The incident lifecycle as a pure state machine: who may move an incident where."""

from __future__ import annotations

from dataclasses import dataclass

# Major: declared -> mobilised -> resolved -> review_due -> review_published -> closed
# Non-major: open -> resolved -> closed. Any active incident may be merged or cancelled.
STATES = (
    "open",
    "declared",
    "mobilised",
    "resolved",
    "review_due",
    "review_published",
    "closed",
    "merged",
    "cancelled",
)
ACTIVE = ("open", "declared", "mobilised")
FINAL = ("closed", "merged", "cancelled")

# event -> {from state: to state}
_TRANSITIONS: dict[str, dict[str, str]] = {
    "declare": {"open": "declared"},  # accepted as a major incident
    "downgrade": {"declared": "open", "mobilised": "open"},  # no longer major
    "mobilise": {"declared": "mobilised"},  # the Major Incident Manager acknowledged
    "resolve": {"open": "resolved", "declared": "resolved", "mobilised": "resolved"},
    "reopen": {"resolved": "open"},
    "start_review": {"resolved": "review_due"},
    "publish_review": {"review_due": "review_published"},
    "close": {"resolved": "closed", "review_published": "closed"},
    "merge": {s: "merged" for s in ACTIVE},
    "cancel": {s: "cancelled" for s in ACTIVE},
}
EVENTS = tuple(_TRANSITIONS)


class IllegalTransition(ValueError):
    """The event is not allowed in the incident's current state."""


@dataclass(frozen=True)
class Transition:
    event: str
    from_state: str
    to_state: str


def allowed_events(state: str, major: bool) -> tuple[str, ...]:
    """Events that may happen to an incident in this state."""
    return tuple(e for e in EVENTS if _check(state, e, major) is None)


def _check(state: str, event: str, major: bool) -> str | None:
    targets = _TRANSITIONS.get(event)
    if targets is None:
        return f"unknown event {event!r}"
    if state not in targets:
        return f"cannot {event.replace('_', ' ')} an incident that is {state.replace('_', ' ')}"
    if event == "close" and state == "resolved" and major:
        return "a major incident closes after its post-incident review is published"
    if event == "start_review" and not major:
        return "only major incidents have a post-incident review"
    if event == "reopen" and major:
        return "a resolved major incident cannot be reopened; declare a new incident"
    return None


def transition(state: str, event: str, *, major: bool) -> Transition:
    """The transition for `event`, or IllegalTransition with a reason a person can read."""
    problem = _check(state, event, major)
    if problem:
        raise IllegalTransition(problem)
    to_state = _TRANSITIONS[event][state]
    if event == "reopen":
        to_state = "declared" if major else "open"
    return Transition(event, state, to_state)


def initial_state(major: bool) -> str:
    """Where a new incident starts."""
    return "declared" if major else "open"


def is_active(state: str) -> bool:
    """Whether people are still working the incident."""
    return state in ACTIVE
