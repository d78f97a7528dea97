"""Secrets at rest: tokens (API, web session, sign-in link) are stored only as their hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_nonce() -> str:
    """A random value stored beside a derived token; useless without the secret key."""
    return secrets.token_urlsafe(16)


def derived_token(secret_key: str, purpose: str, nonce: str) -> str:
    """A token computed from the secret key, so the database holds only `nonce` and the
    token's hash: whoever reads the database (or a backup) cannot use a pending link."""
    digest = hmac.new(secret_key.encode(), f"{purpose}:{nonce}".encode(), hashlib.sha256)
    return digest.hexdigest()[:43]


def subscription_token(secret_key: str, purpose: str, ident: int, nonce: str) -> str:
    """`<id>-<derived token>`: a subscription's confirm (`subscribe-confirm`) or one-click
    unsubscribe (`unsubscribe`) link token."""
    return f"{ident}-{derived_token(secret_key, purpose, nonce)}"


def fill_secrets(message: dict, fill: dict, secret_key: str) -> dict:
    """`message` with each placeholder of `fill` ({placeholder: {"purpose", "nonce"}})
    replaced by its derived token in every text part: done at delivery, never stored."""
    values = {k: derived_token(secret_key, v["purpose"], v["nonce"]) for k, v in fill.items()}

    def put(value):
        if isinstance(value, str):
            for placeholder, token in values.items():
                value = value.replace(placeholder, token)
        return value

    return {k: put(v) for k, v in message.items() if k != "fill"}
