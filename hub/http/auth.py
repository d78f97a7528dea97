"""API tokens: random, shown once, stored hashed, tied to a person of the policy."""

from __future__ import annotations

import secrets

from flask import current_app, g, request
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.db import utcnow
from hub.app.errors import Invalid, Unauthorized
from hub.app.models import ApiToken
from hub.app.security import hash_token
from hub.policy.model import Policy

PREFIX = "mih_"


def create_token(
    session: Session, policy: Policy, person: str, label: str = "", *, actor: str | None = None
) -> str:
    """A new token for a person; the plain text exists only in the return value (the audit
    log keeps its hash's first characters, to name it when it is revoked)."""
    if person not in policy.people:
        raise Invalid(f"unknown person {person!r}; people are: {', '.join(policy.people)}")
    token = PREFIX + secrets.token_urlsafe(32)
    hashed = hash_token(token)
    session.add(ApiToken(person=person, token_hash=hashed, label=label))
    audit.record(
        session,
        "token-created",
        person,
        actor=actor,
        now=utcnow(),
        after={"label": label, "token_hash": hashed[:12]},
    )
    return token


def revoke_token(session: Session, token_or_prefix_hash: str, *, actor: str | None = None) -> int:
    """Revoke a token by its plain text or by its hash; returns how many were revoked."""
    wanted = token_or_prefix_hash
    h = hash_token(wanted) if wanted.startswith(PREFIX) else wanted
    rows = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == h, ApiToken.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = utcnow()
        audit.record(
            session,
            "token-revoked",
            f"token {row.token_hash[:12]} of {row.person}",
            actor=actor,
            now=row.revoked_at,
            before={"revoked_at": None},
            after={"revoked_at": row.revoked_at.isoformat()},
        )
    return len(rows)


_TOKENS = ApiToken.__table__
_LOOKUP = select(_TOKENS.c.person).where(
    _TOKENS.c.token_hash == bindparam("token_hash"), _TOKENS.c.revoked_at.is_(None)
)


def person_for_token(connection: Connection | Session, token: str) -> str | None:
    """The person a live token belongs to (a plain Core query: it runs on every API call)."""
    return connection.execute(_LOOKUP, {"token_hash": hash_token(token)}).scalar()


# RFC 6750 section 3: a 401 names the scheme; with a token that is not good, why
CHALLENGE = 'Bearer realm="mihub"'
INVALID_TOKEN = {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'}


def require_person() -> str:
    """The person behind the request's bearer token (401 otherwise)."""
    if getattr(g, "person", None):
        return g.person
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send `Authorization: Bearer <token>`; create one with `mihub token create PERSON`",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    hub = current_app.extensions["hub"]
    with hub.db.reading() as connection:
        person = person_for_token(connection, token.strip())
    if person is None:
        raise Unauthorized("the token is unknown or revoked", headers=INVALID_TOKEN)
    if person not in hub.policy.people:
        raise Unauthorized(
            f"the token's person {person!r} is no longer in the policy", headers=INVALID_TOKEN
        )
    g.person = person
    return person
