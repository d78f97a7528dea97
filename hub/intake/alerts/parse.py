"""Alert payloads into plain data, or Malformed with what is wrong (pure: no I/O).

Alertmanager's webhook (version 4), Grafana's webhook contact point (the same shape plus
title, message, state, orgId) and Azure Monitor's common alert schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

SOURCES = ("alertmanager", "grafana", "azure-monitor")
STATES = ("firing", "resolved")
AZURE_SCHEMA = "azureMonitorCommonAlertSchema"
AZURE_PORTAL = (
    "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring/AlertDetailsTemplateBlade/alertId/"
)
_NO_END = "0001-01-01T00:00:00Z"  # Go's zero time: "still firing" in Alertmanager
_RG = re.compile(r"/resourcegroups/([^/]+)", re.IGNORECASE)
MAX_ALERTS = 10_000


class Malformed(ValueError):
    """A payload that is not what the source sends; `status` 400 (not JSON) or 422."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ParsedAlert:
    fingerprint: str  # Alertmanager/Grafana fingerprint, Azure alertId
    state: str  # firing|resolved
    labels: dict = field(hash=False)
    summary: str
    starts_at: datetime | None
    ends_at: datetime | None
    link: str | None
    candidates: tuple[str, ...] = ()  # names that may be catalogue services (service label…)
    severity: str = ""  # critical|warning|… or Sev0…Sev4


@dataclass(frozen=True)
class Notification:
    source: str
    receiver: str
    group_key: str
    status: str
    title: str
    alerts: tuple[ParsedAlert, ...]


def parse(source: str, body: object) -> Notification:
    """The notification in a decoded JSON body; Malformed says what is wrong."""
    if not isinstance(body, dict):
        raise Malformed(f"expected a JSON object, got {type(body).__name__}")
    if source == "azure-monitor":
        return _azure(body)
    return _alertmanager(source, body)


def fingerprint_of(labels: dict) -> str:
    """Alertmanager's fingerprint of a label set (FNV-1a 64 over sorted names and values)."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _text(value: object, where: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Malformed(f"{where}: expected {'non-empty ' if required else ''}text")
    return value


def _labels(value: object, where: str, *, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{where}: expected an object of text values")
    for key, item in value.items():
        if not isinstance(item, str):
            raise Malformed(f"{where}.{key}: expected text, got {type(item).__name__}")
    return value


def _time(value: object, where: str, *, required: bool = False) -> datetime | None:
    if value in (None, "", _NO_END) and not required:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{where}: expected an RFC 3339 time")
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(f"{where}: {value[:60]!r} is not an RFC 3339 time") from None
    if found.year <= 1:
        return None
    return (found if found.tzinfo else found.replace(tzinfo=UTC)).astimezone(UTC)


def _state(value: object, where: str) -> str:
    if value not in STATES:
        raise Malformed(f"{where}: expected firing or resolved, got {str(value)[:40]!r}")
    return value


def _alertmanager(source: str, body: dict) -> Notification:
    if source == "alertmanager" and str(body.get("version")) != "4":
        raise Malformed(f'version: expected "4" (the webhook version), got {body.get("version")!r}')
    status = _state(body.get("status"), "status")
    group_key = _text(body.get("groupKey"), "groupKey", required=True)
    receiver = _text(body.get("receiver"), "receiver")
    common = _labels(body.get("commonLabels"), "commonLabels", required=False)
    annotations = _labels(body.get("commonAnnotations"), "commonAnnotations", required=False)
    group_labels = _labels(body.get("groupLabels"), "groupLabels", required=False)
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise Malformed("alerts: expected a non-empty list")
    if len(alerts) > MAX_ALERTS:
        raise Malformed(f"alerts: {len(alerts)} alerts; at most {MAX_ALERTS} in one notification")
    parsed = tuple(_am_alert(item, f"alerts[{i}]") for i, item in enumerate(alerts))
    title = (
        _text(body.get("title"), "title")
        or annotations.get("summary")
        or ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items()))
        or common.get("alertname", "")
        or parsed[0].summary
    )
    return Notification(source, receiver, group_key, status, title[:300], parsed)


def _am_alert(item: object, where: str) -> ParsedAlert:
    if not isinstance(item, dict):
        raise Malformed(f"{where}: expected an object")
    labels = _labels(item.get("labels"), f"{where}.labels")
    if not labels:
        raise Malformed(f"{where}.labels: an alert needs at least one label")
    annotations = _labels(item.get("annotations"), f"{where}.annotations", required=False)
    fingerprint = _text(item.get("fingerprint"), f"{where}.fingerprint") or fingerprint_of(labels)
    link = _text(item.get("generatorURL"), f"{where}.generatorURL") or None
    summary = (
        annotations.get("summary") or annotations.get("description") or labels.get("alertname", "")
    )
    return ParsedAlert(
        fingerprint=fingerprint[:300],
        state=_state(item.get("status"), f"{where}.status"),
        labels=labels,
        summary=summary[:2000],
        starts_at=_time(item.get("startsAt"), f"{where}.startsAt", required=True),
        ends_at=_time(item.get("endsAt"), f"{where}.endsAt"),
        link=link if link and link.startswith(("http://", "https://")) else None,
        candidates=tuple(v for v in (labels.get("service"),) if v),
        severity=labels.get("severity", ""),
    )


def _azure(body: dict) -> Notification:
    if body.get("schemaId") != AZURE_SCHEMA:
        raise Malformed(
            f"schemaId: expected {AZURE_SCHEMA!r} (turn on the common alert schema in the "
            f"action group), got {str(body.get('schemaId'))[:60]!r}"
        )
    data = body.get("data")
    essentials = data.get("essentials") if isinstance(data, dict) else None
    if not isinstance(essentials, dict):
        raise Malformed("data.essentials: expected an object")
    e = "data.essentials"
    alert_id = _text(essentials.get("alertId"), f"{e}.alertId", required=True)
    rule = _text(essentials.get("alertRule"), f"{e}.alertRule", required=True)
    severity = _text(essentials.get("severity"), f"{e}.severity", required=True)
    if severity not in ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4"):
        raise Malformed(f"{e}.severity: expected Sev0 to Sev4, got {severity[:20]!r}")
    condition = essentials.get("monitorCondition")
    if condition not in ("Fired", "Resolved"):
        raise Malformed(f"{e}.monitorCondition: expected Fired or Resolved, got {condition!r}")
    targets = _names(essentials.get("alertTargetIDs"), f"{e}.alertTargetIDs")
    items = _names(essentials.get("configurationItems"), f"{e}.configurationItems")
    resources = tuple(t.rstrip("/").rsplit("/", 1)[-1] for t in targets)
    groups = tuple(dict.fromkeys(m.group(1) for t in targets if (m := _RG.search(t))))
    labels = {
        "alertname": rule,
        "severity": severity,
        "signal_type": _text(essentials.get("signalType"), f"{e}.signalType"),
        "monitoring_service": _text(essentials.get("monitoringService"), f"{e}.monitoringService"),
        "alert_rule": rule,
        "resource_group": list(groups),
        "configuration_items": list(items),
        "resource": list(resources),
    }
    resolved = condition == "Resolved"
    alert = ParsedAlert(
        fingerprint=alert_id[:300],
        state="resolved" if resolved else "firing",
        labels=labels,
        summary=(_text(essentials.get("description"), f"{e}.description") or rule)[:2000],
        starts_at=_time(essentials.get("firedDateTime"), f"{e}.firedDateTime", required=True),
        ends_at=_time(essentials.get("resolvedDateTime"), f"{e}.resolvedDateTime"),
        link=AZURE_PORTAL + quote(alert_id, safe=""),
        candidates=tuple(dict.fromkeys(items + resources)),
        severity=severity,
    )
    status = alert.state
    return Notification("azure-monitor", "", alert_id, status, rule[:300], (alert,))


def _names(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Malformed(f"{where}: expected a list of text")
    return tuple(value)
