"""Fixtures of the alert intake tests: source tokens and an authenticated post."""

from __future__ import annotations

import json

import pytest

from hub.app.db import utcnow
from hub.intake.alerts import ingest
from hub.intake.alerts.sources import create_source_token
from tests.alerts_kit import ENDPOINT


@pytest.fixture
def source_token(hub):
    """source_token(name) -> a live token for that monitoring source."""

    def make(name: str = "alertmanager-prod") -> str:
        with hub.db.session() as session:
            return create_source_token(session, name, "test")

    return make


@pytest.fixture
def send(client, source_token):
    """send(source, body, name=...) -> the response of one authenticated notification."""
    tokens: dict[str, str] = {}

    def post(source: str, body, name: str = "alertmanager-prod", **kwargs):
        if name not in tokens:
            tokens[name] = source_token(name)
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        headers = {"Authorization": f"Bearer {tokens[name]}", **kwargs.pop("headers", {})}
        return client.post(
            ENDPOINT.format(source),
            data=data,
            headers=headers,
            content_type="application/json",
            **kwargs,
        )

    return post


def apply_queued(hub) -> list:
    """Run the `process_alerts` wake-ups the hub recorded, as the worker would; the results."""
    jobs = [ident for name, ident in hub.enqueued if name == ingest.TASK]
    hub.enqueued[:] = [job for job in hub.enqueued if job[0] != ingest.TASK]
    return [ingest.process(hub, ident, utcnow()) for ident in jobs]
