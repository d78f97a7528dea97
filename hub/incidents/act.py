"""Acting on an incident as a person, the one way every channel does it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from hub.app.errors import Forbidden, HubError
from hub.app.models import Incident
from hub.core import permissions
from hub.incidents import live_cards
from hub.incidents.records import get_incident
from hub.incidents.timer_actions import ensure_mobilised
from hub.policy.model import Policy

T = TypeVar("T")


def act(
    session: Session,
    policy: Policy,
    ref: str | int,
    actor: str | None,
    action: str,
    operation: Callable[[Incident], T],
    *,
    now: datetime,
    refusal: Callable[[Incident], HubError | None] | None = None,
) -> T:
    """Do `action` on the incident `ref` as `actor`: lock it, run its pending mobilisation
    (the roles the check reads), check `hub.core.permissions`, then `operation(incident)`.

    `action`: a rule of `permissions.ACTIONS` or an operation that follows one (`FOLLOWS`).
    `refusal`: the channel's own words when the actor may not (default: the rules' text);
    returning None leaves the answer to the operation (acknowledging an incident that is
    over is "nothing to acknowledge", whoever asks).
    """
    incident = get_incident(session, ref, lock=True)
    ensure_mobilised(session, policy, incident, now)
    before = live_cards.stamp(session, incident)
    if not permissions.can(policy, incident, actor, action):
        error = (
            refusal(incident)
            if refusal is not None
            else Forbidden(permissions.refusal(incident, action))
        )
        if error is not None:
            raise error
    result = operation(incident)
    after = live_cards.stamp(session, incident)
    if after > before:  # the incident changed: its cards in Teams show it (one row per change)
        live_cards.refresh(session, policy, incident, after, now)
    return result
