"""Secrets at rest: tokens (API, web session, sign-in link) are stored only as their hash."""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
