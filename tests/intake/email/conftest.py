"""Fixtures of the email intake tests."""

from __future__ import annotations

import pytest

from tests.email_kit import make_hub


@pytest.fixture
def mhub(backend, example_policy):
    """A hub with the mail settings (secret, From address, trusted authserv-id, base URL)."""
    hub = make_hub(backend, example_policy)
    yield hub
    hub.db.dispose()
