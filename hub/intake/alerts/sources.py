"""Monitoring sources: their tokens (bearer, HTTP basic or an Azure URL secret) and rates.

A source token is an API token whose owner is `source:NAME`: stored hashed, shown once,
revoked like any token, and refused by the person-facing API (no such person).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
import secrets
import threading
import time

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from hub.app.errors import HubError, Invalid, Unauthorized
from hub.app.models import ApiToken
from hub.app.security import hash_token

PREFIX = "source:"
TOKEN_PREFIX = "mia_"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mihub-alerts", Basic realm="mihub-alerts"'}


class TooManyRequests(HubError):
    status = 429
    code = "rate_limited"


def create_source_token(session: Session, name: str, label: str = "") -> str:
    """A new token for the monitoring source `name`; the plain text exists only here."""
    if not NAME.match(name):
        raise Invalid(
            f"source name {name!r}: use lower-case letters, digits, dots, dashes "
            "(like alertmanager-prod), at most 63 characters"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(person=PREFIX + name, token_hash=hash_token(token), label=label))
    return token


_TOKENS = ApiToken.__table__
_LOOKUP = select(_TOKENS.c.person, _TOKENS.c.token_hash).where(
    _TOKENS.c.token_hash == bindparam("token_hash"), _TOKENS.c.revoked_at.is_(None)
)


def source_for(connection: Connection, token: str, name: str | None = None) -> str | None:
    """The source a live source token belongs to (`name`: the basic-auth user must match).

    The lookup is by the token's SHA-256, and the stored hash is compared again in constant
    time, so the answer's timing says nothing about the secret.
    """
    wanted = hash_token(token)
    row = connection.execute(_LOOKUP, {"token_hash": wanted}).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    owner = row.person or ""
    if not owner.startswith(PREFIX):
        return None
    source = owner[len(PREFIX) :]
    return source if name is None or hmac.compare_digest(source, name) else None


def credentials(headers, args) -> tuple[str | None, str | None]:
    """(token, basic-auth user) from `Authorization` (Bearer or Basic) or `?token=` (Azure)."""
    header = headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), None
    if scheme.lower() == "basic" and value.strip():
        try:
            user, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return password or None, user
    return args.get("token") or None, None


def authenticate(connection: Connection, headers, args) -> str:
    """The source a request comes from; 401 with how to authenticate otherwise."""
    token, user = credentials(headers, args)
    if not token:
        raise Unauthorized(
            "send `Authorization: Bearer <token>`, HTTP basic auth (user: the source name) or, "
            "for Azure action groups, `?token=<token>`; create one with "
            "`mihub token create --source NAME`",
            headers=CHALLENGE,
        )
    source = source_for(connection, token, user)
    if source is None:
        raise Unauthorized("the source token is unknown or revoked", headers=CHALLENGE)
    return source


class RateLimiter:
    """A token bucket per source in this process: `rate` requests a second, bursts of 2×."""

    def __init__(self, rate: float, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, max(1.0, rate * 2), clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, source: str) -> None:
        """Take one request for `source`, or raise 429 with the seconds until the next."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self.clock()
            level, at = self._buckets.get(source, (self.burst, now))
            level = min(self.burst, level + (now - at) * self.rate)
            if level < 1:
                self._buckets[source] = (level, now)
                wait = max(1, math.ceil((1 - level) / self.rate))
                raise TooManyRequests(
                    f"source {source!r} sends more than {self.rate:g} requests a second; "
                    f"retry after {wait} s",
                    headers={"Retry-After": str(wait)},
                )
            self._buckets[source] = (level - 1, now)
