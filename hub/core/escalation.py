"""Escalation plans as pure data: who is paged at which step, frozen per incident.

A plan is computed once at declaration from the policy and stored as JSON on the incident,
so that later policy edits do not change an incident already running. A severity change
re-plans only the steps still ahead (see `steps_ahead`).

`unless: acknowledged` is decided per target (see `still_needed`): a `role:R#N` target is
skipped once role R is acknowledged on the incident; a `person:` or `audience:` target is
skipped once the Major Incident Manager acknowledged (the incident is mobilised).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.core.permissions import MIM, TECH
from hub.core.schedules import Override, expand_entry
from hub.policy.model import EscalationStep, Policy

# A major severity with no escalation in the policy still pages its responders at once, by
# the channels of a step that names no `via:` (the policy's default, `CHANNELS`).
DEFAULT_STEPS = (EscalationStep(after=timedelta(0), notify=(f"role:{MIM}", f"role:{TECH}")),)


@dataclass(frozen=True)
class Target:
    """One addressee of a step: a person (maybe via a role) or an audience."""

    person: str | None
    role: str | None = None
    position: int = 1  # N of role:NAME#N; 1 for persons and audiences
    audience: str | None = None

    def to_json(self) -> dict:
        """The target as a JSON object."""
        return {
            "person": self.person,
            "role": self.role,
            "position": self.position,
            "audience": self.audience,
        }

    @classmethod
    def from_json(cls, data: dict) -> Target:
        """The target from `to_json` output."""
        return cls(
            person=data.get("person"),
            role=data.get("role"),
            position=int(data.get("position") or 1),
            audience=data.get("audience"),
        )


@dataclass(frozen=True)
class PlannedStep:
    """One step of the plan: at `due_at`, page `targets` by `via`, `unless` acknowledged."""

    index: int
    due_at: datetime
    targets: tuple[Target, ...]
    via: tuple[str, ...]
    unless: str | None = None

    def to_json(self) -> dict:
        """The step as a JSON object (times in ISO 8601)."""
        return {
            "index": self.index,
            "due_at": self.due_at.isoformat(),
            "targets": [t.to_json() for t in self.targets],
            "via": list(self.via),
            "unless": self.unless,
        }

    @classmethod
    def from_json(cls, data: dict) -> PlannedStep:
        """The step from `to_json` output."""
        return cls(
            index=int(data["index"]),
            due_at=datetime.fromisoformat(data["due_at"]),
            targets=tuple(Target.from_json(t) for t in data.get("targets", ())),
            via=tuple(data.get("via") or ()),
            unless=data.get("unless"),
        )


def roster(
    policy: Policy,
    role: str,
    services: Iterable[str],
    at: datetime | None = None,
    overrides: Sequence[Override] = (),
) -> tuple[str, ...]:
    """People on duty for a role at `at` in escalation order; tech leads come from the first
    service. A `schedule:NAME` entry is whoever is on call at `at` (nobody without `at`)."""
    if role == TECH:
        for key in services or ():
            service = policy.services.get(key)
            if service and service.tech_lead:
                return service.tech_lead
    people: list[str] = []
    for entry in policy.roles.get(role, ()):
        person = expand_entry(policy.schedules, entry, at, overrides)
        if person is not None and person not in people:
            people.append(person)
    return tuple(people)


def resolve_target(
    policy: Policy,
    spec: str,
    services: Iterable[str],
    at: datetime | None = None,
    overrides: Sequence[Override] = (),
) -> Target | None:
    """`role:NAME[#N]`, `schedule:NAME[#next]`, `person:KEY` or `audience:KEY` → a Target at
    `at` (None if vacant)."""
    kind, _, name = spec.partition(":")
    if kind == "role":
        role, _, nth = name.partition("#")
        position = int(nth) if nth else 1
        people = roster(policy, role, services, at, overrides)
        if position < 1 or len(people) < position:
            return None
        return Target(person=people[position - 1], role=role, position=position)
    if kind == "schedule":
        person = expand_entry(policy.schedules, spec, at, overrides)
        return Target(person=person) if person else None
    if kind == "person":
        return Target(person=name) if name in policy.people else None
    if kind == "audience":
        return Target(person=None, audience=name) if name in policy.audiences else None
    raise ValueError(f"unknown escalation target {spec!r}")


def plan_escalation(
    policy: Policy,
    severity: str,
    services: Iterable[str],
    declared_at: datetime,
    overrides: Sequence[Override] = (),
) -> list[PlannedStep]:
    """Every step of the severity's escalation, its targets resolved from the rosters and
    schedules as they stand at the declaration."""
    services = tuple(services or ())
    steps = []
    for index, step in enumerate(policy.escalation.get(severity) or DEFAULT_STEPS):
        targets: list[Target] = []
        for spec in step.notify:
            target = resolve_target(policy, spec, services, declared_at, overrides)
            if target is not None and not _same_addressee(target, targets):
                targets.append(target)
        steps.append(
            PlannedStep(
                index=index,
                due_at=declared_at + step.after,
                targets=tuple(targets),
                via=tuple(step.via),
                unless=step.unless,
            )
        )
    return steps


def _same_addressee(target: Target, seen: list[Target]) -> bool:
    return any(t.person == target.person and t.audience == target.audience for t in seen)


def steps_ahead(steps: Iterable[PlannedStep], now: datetime) -> list[PlannedStep]:
    """The steps not yet due: what a re-plan after a severity change keeps."""
    return [s for s in steps if s.due_at > now]


def still_needed(step: PlannedStep, acknowledged_roles: Iterable[str]) -> tuple[Target, ...]:
    """The targets of a step that must still be paged, given the roles acknowledged so far."""
    if step.unless != "acknowledged":
        return step.targets
    acked = set(acknowledged_roles)
    return tuple(t for t in step.targets if (t.role not in acked if t.role else MIM not in acked))
