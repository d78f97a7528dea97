"""Who sent an inbound message: an address or an Entra object id mapped to a policy person.

Every channel matches its senders the same way: by email address or UPN (a person's
`email` or `teams`, case-insensitively) and, where the channel carries one, by Entra
object id; never by display name.
"""

from __future__ import annotations

from hub.policy.model import Person, Policy

MAX_SENDER = 320  # as stored on the inbound message


def person_by_address(policy: Policy, address: str) -> Person | None:
    """The policy person with this email address or UPN, if any."""
    return policy.person_by_email(address)


def person_key(policy: Policy, address: str) -> str | None:
    """The key of the policy person with this email address or UPN, if any."""
    person = person_by_address(policy, address)
    return person.key if person else None


def person_by_object_id(policy: Policy, object_id: str) -> Person | None:
    """The policy person with this Entra object id (any case), if any."""
    wanted = object_id.lower()
    return next(
        (
            p
            for p in policy.people.values()
            if p.aad_object_id and p.aad_object_id.lower() == wanted
        ),
        None,
    )


def sender_label(person: Person | None, address: str) -> str:
    """How a sender is recorded: the person's key, else the address as the channel gave it."""
    return (person.key if person else address)[:MAX_SENDER]
