"""Helpers of the alert intake tests: the recorded payloads, counts, building notifications."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sqlalchemy import func, select

from hub.app.models import Alert, InboundMessage, Incident

PAYLOADS = Path(__file__).parent / "intake" / "alerts" / "payloads"
ENDPOINT = "/intake/alerts/{}"


def payload(name: str) -> dict:
    """A fresh copy of a recorded payload (payloads/SOURCES.md says where each comes from)."""
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))


def counts(hub) -> dict:
    """How many stored notifications, alerts and incidents there are."""
    with hub.db.session(write=False) as session:
        return {
            "stored": session.scalar(
                select(func.count()).where(InboundMessage.channel == "alerts")
            ),
            "alerts": session.scalar(select(func.count()).select_from(Alert)),
            "incidents": session.scalar(select(func.count()).select_from(Incident)),
        }


def am_alert(fingerprint: str, summary: str, status: str = "firing", **labels) -> dict:
    """One alert of an Alertmanager notification."""
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", **labels},
        "annotations": {"summary": summary},
        "startsAt": "2026-12-06T10:00:00Z",
        "endsAt": "2026-12-06T10:40:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def am_group(group_key: str, alerts: list[dict], receiver: str = "mihub", **common) -> dict:
    """An Alertmanager (version 4) notification of one group."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": receiver,
        "status": "firing" if firing else "resolved",
        "alerts": alerts,
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }
