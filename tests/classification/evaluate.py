"""Run the labelled set through intake, classification and correlation; measure the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from hub.core.classify import Report
from hub.incidents.reports import classify_new, create_incident
from hub.intake.commands import parse_chat
from hub.intake.email.effect import actor_for, title_from
from hub.intake.teams.reports import _title as teams_title
from hub.policy.load import load_policy

HERE = Path(__file__).parent
START = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)


def load_set(name: str = "reports.yaml") -> list[dict]:
    """The labelled reports of one file (`heldout.yaml`: the held-out part), in arrival order."""
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))["reports"]


def set_policy():
    """The policy the set is labelled against."""
    return load_policy(HERE / "policy.yaml", env={})


def as_received(item: dict, policy) -> Report:
    """The report as the channel's intake builds it."""
    text = item.get("text") or ""
    if item["via"] == "email":
        sender = item["from"] if "@" in item["from"] else policy.people[item["from"]].email
        return Report(
            title=title_from(item["title"], text),
            text=text,
            source="email",
            reporter=actor_for(policy, sender),
        )
    if item["via"] == "teams":
        command = parse_chat(text, severities=policy.severities)
        assert command.name == "report", (item["id"], command)
        return Report(
            title=teams_title(command.text),
            text=command.text,
            source="teams",
            reporter=item["from"],
        )
    return Report(
        title=item["title"],
        text=text,
        services=tuple(item.get("services") or ()),
        source="api",
        reporter=item["from"],
    )


@dataclass
class Outcome:
    id: int
    services: tuple[str, ...]
    severity: str
    incident: int
    created: bool
    reasons: tuple[str, ...]


@dataclass
class Figures:
    reports: int = 0
    precision: float = 0.0
    recall: float = 0.0
    severity_agreement: float = 0.0
    join_agreement: float = 0.0
    wrong_joins: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"labelled reports: {self.reports}",
            f"service detection precision: {self.precision:.3f} (goal >= 0.98)",
            f"service detection recall: {self.recall:.3f} (goal >= 0.95)",
            f"severity agreement: {self.severity_agreement:.3f} (goal >= 0.95)",
            f"joins as labelled: {self.join_agreement:.3f}",
            f"wrong joins (another service or kind): {len(self.wrong_joins)} (goal 0)",
        ]


def run_set(hub, items: list[dict]) -> dict[int, Outcome]:
    """Each report through classification and correlation, at its minute of the day."""
    out: dict[int, Outcome] = {}
    for item in items:
        report = as_received(item, hub.policy)
        now = START + timedelta(minutes=item["at"])
        with hub.db.reading() as connection:
            classified = classify_new(connection, hub.policy, report, now)
        with hub.transaction() as session:
            incident, created = create_incident(
                session, hub.policy, report, actor=None, now=now, classified=classified
            )
            out[item["id"]] = Outcome(
                item["id"],
                classified.services,
                classified.severity,
                incident.id,
                created,
                classified.reasons,
            )
    return out


def measure(items: list[dict], outcomes: dict[int, Outcome]) -> Figures:
    """Precision and recall of services, severity and join agreement, wrong joins."""
    labels = {i["id"]: i["expect"] for i in items}
    opened_by = {o.incident: o.id for o in outcomes.values() if o.created}

    def root(report_id: int) -> int:
        while labels[report_id]["joins"] is not None:
            report_id = labels[report_id]["joins"]
        return report_id

    tp = fp = fn = severity_ok = join_ok = 0
    f = Figures(reports=len(items))
    for item in items:
        got, want = outcomes[item["id"]], labels[item["id"]]
        expected = set(want["services"])
        tp += len(expected & set(got.services))
        fp += len(set(got.services) - expected)
        fn += len(expected - set(got.services))
        severity_ok += got.severity == want["severity"]
        actual_root = opened_by[got.incident]
        join_ok += actual_root == root(item["id"])
        if not got.created:
            other = labels[actual_root]
            if set(other["services"]) != expected or other.get("security", False) != want.get(
                "security", False
            ):
                f.wrong_joins.append(f"#{item['id']} joined the incident of #{actual_root}")
        if set(got.services) != expected or got.severity != want["severity"]:
            f.misses.append(
                f"#{item['id']}: services {sorted(got.services)} (labelled "
                f"{sorted(expected)}), {got.severity} (labelled {want['severity']})"
            )
        elif actual_root != root(item["id"]):
            f.misses.append(
                f"#{item['id']}: in the incident of #{actual_root}, labelled #{root(item['id'])}"
            )
    f.precision = tp / (tp + fp) if tp + fp else 1.0
    f.recall = tp / (tp + fn) if tp + fn else 1.0
    f.severity_agreement = severity_ok / len(items)
    f.join_agreement = join_ok / len(items)
    return f
