"""Who wrote a Teams message, and whom it @mentions: Teams accounts mapped to policy people."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.app.errors import Invalid
from hub.intake.senders import person_by_address, person_by_object_id
from hub.policy.model import Person, Policy

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True)
class Sender:
    """The `from` of an activity, as far as Teams tells us."""

    aad_object_id: str | None
    upn: str | None
    name: str
    teams_id: str | None

    @property
    def label(self) -> str:
        """How the sender is recorded when they are not in the policy."""
        if self.upn:
            return self.upn.lower()
        return f"teams:{self.aad_object_id or self.teams_id or 'unknown'}"


def _text(value, limit: int = 320) -> str | None:
    return value.strip()[:limit] or None if isinstance(value, str) else None


def sender_of(activity: dict) -> Sender:
    """The sender of an activity (outgoing webhooks and bots carry `from.aadObjectId`)."""
    who = activity.get("from") if isinstance(activity.get("from"), dict) else {}
    upn = next(
        (_text(who.get(k)) for k in ("userPrincipalName", "upn", "email") if _text(who.get(k))),
        None,
    )
    return Sender(
        aad_object_id=_text(who.get("aadObjectId"), 64),
        upn=upn,
        name=_text(who.get("name"), 200) or "someone",
        teams_id=_text(who.get("id")),
    )


def person_for(policy: Policy, sender: Sender) -> Person | None:
    """The policy person: by Entra object id, else by UPN (never by display name)."""
    person = person_by_object_id(policy, sender.aad_object_id) if sender.aad_object_id else None
    if person is None and sender.upn:
        return person_by_address(policy, sender.upn)
    return person


def _by_id(policy: Policy, value: str) -> Person | None:
    match = _GUID.search(value or "")
    if not match:
        return None
    return person_by_object_id(policy, match.group(0))


def find_person(policy: Policy, written: str, entities: list | None = None) -> Person:
    """The person a command names: an @mention, a person key, an email/UPN or a unique name."""
    written = " ".join((written or "").split()).lstrip("@").strip()
    lowered = written.lower()
    for entity in entities or ():
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned") if isinstance(entity.get("mentioned"), dict) else {}
        name = " ".join(str(mentioned.get("name") or "").split()).lower()
        if name != lowered:
            continue
        for value in (mentioned.get("aadObjectId"), mentioned.get("id")):
            person = _by_id(policy, str(value or ""))
            if person:
                return person
        upn = mentioned.get("userPrincipalName")
        if isinstance(upn, str) and policy.person_by_email(upn):
            return policy.person_by_email(upn)
    if written in policy.people:
        return policy.people[written]
    if lowered in policy.people:
        return policy.people[lowered]
    if "@" in written and policy.person_by_email(written):
        return policy.person_by_email(written)
    person = _by_id(policy, written) if _GUID.fullmatch(written) else None
    if person:
        return person
    named = [p for p in policy.people.values() if p.name.lower() == lowered]
    if len(named) == 1:
        return named[0]
    first = [p for p in policy.people.values() if p.name.lower().split()[0] == lowered]
    if len(first) == 1:
        return first[0]
    raise Invalid(
        f"I don't know who {written!r} is: name a person of the policy by @mention, email or key",
        code="unknown_person",
    )
