"""The lifecycle state machine: every legal move, and clear refusals."""

from __future__ import annotations

import pytest

from hub.core.lifecycle import IllegalTransition, allowed_events, initial_state, transition


@pytest.mark.parametrize(
    "state, event, major, to",
    [
        ("open", "declare", False, "declared"),
        ("declared", "mobilise", True, "mobilised"),
        ("declared", "resolve", True, "resolved"),
        ("mobilised", "resolve", True, "resolved"),
        ("resolved", "start_review", True, "review_due"),
        ("review_due", "publish_review", True, "review_published"),
        ("review_published", "close", True, "closed"),
        ("open", "resolve", False, "resolved"),
        ("resolved", "close", False, "closed"),
        ("resolved", "reopen", False, "open"),
        ("declared", "downgrade", True, "open"),
        ("mobilised", "downgrade", True, "open"),
        ("open", "cancel", False, "cancelled"),
        ("mobilised", "cancel", True, "cancelled"),
        ("declared", "merge", True, "merged"),
    ],
)
def test_legal(state, event, major, to):
    step = transition(state, event, major=major)
    assert (step.from_state, step.to_state) == (state, to)


@pytest.mark.parametrize(
    "state, event, major, message",
    [
        ("resolved", "resolve", False, "cannot resolve an incident that is resolved"),
        ("closed", "reopen", False, "cannot reopen an incident that is closed"),
        ("resolved", "close", True, "closes after its post-incident review is published"),
        ("resolved", "start_review", False, "only major incidents have a post-incident review"),
        ("resolved", "reopen", True, "cannot be reopened"),
        ("open", "mobilise", False, "cannot mobilise an incident that is open"),
        ("cancelled", "merge", False, "cannot merge an incident that is cancelled"),
        ("declared", "publish_review", True, "cannot publish review"),
        ("open", "explode", False, "unknown event"),
    ],
)
def test_illegal(state, event, major, message):
    with pytest.raises(IllegalTransition, match=message):
        transition(state, event, major=major)


def test_allowed_and_initial():
    assert initial_state(True) == "declared" and initial_state(False) == "open"
    assert set(allowed_events("declared", True)) == {
        "downgrade",
        "mobilise",
        "resolve",
        "merge",
        "cancel",
    }
    assert allowed_events("closed", True) == ()
