"""Which bridge link an incident shows: its own Teams meeting, else the policy's static link."""

from __future__ import annotations

from hub.policy.model import Policy


def bridge_url(plan: dict | None, policy: Policy) -> str | None:
    """The join URL of the meeting the hub created for the incident, else `bridge.url`."""
    return (plan or {}).get("bridge_url") or policy.bridge_url
