"""The policy as plain, immutable data: what the loader produces and the domain core reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta

ROLE_NAMES = ("major_incident_manager", "tech_lead", "communications_owner", "problem_manager")
IMPACTS = ("outage", "degraded", "minor")
CHANNELS = ("teams", "email")  # an escalation step's `via:` when it names none

# The names a policy may use in `via:`. The channel registry (hub.channels.registry) adds each
# channel it registers, so the policy layer knows the channels without importing them.
_channel_names: list[str] = list(CHANNELS)


def channel_names() -> tuple[str, ...]:
    """The outgoing channels a policy may name in `via:`."""
    return tuple(_channel_names)


def add_channel_name(name: str) -> None:
    """Let policies name a newly registered channel."""
    if name not in _channel_names:
        _channel_names.append(name)


def remove_channel_name(name: str) -> None:
    """Forget an unregistered channel's name (the defaults stay)."""
    if name in _channel_names and name not in CHANNELS:
        _channel_names.remove(name)


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    email: str | None = None
    teams: str | None = None  # UPN used for @mentions
    aad_object_id: str | None = None  # Entra object id
    admin: bool = False


@dataclass(frozen=True)
class Service:
    key: str
    name: str
    aliases: tuple[str, ...] = ()
    critical: bool = False
    tech_lead: tuple[str, ...] = ()  # person keys, escalation order
    users: int | None = None  # how many people use it (for "whole service" reports)
    runbook: Runbook | None = None  # its steps go on the Technical Lead's checklist
    public: bool = False  # shown on the public status page


@dataclass(frozen=True)
class Runbook:
    url: str | None = None
    steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChecklistItem:
    """One task of a role's checklist: done within `within` of the declaration."""

    task: str
    within: timedelta | None = None
    severities: tuple[str, ...] = ()  # only for these severities; empty: every major one


@dataclass(frozen=True)
class TeamsTarget:
    webhook: str  # a Workflows webhook URL (already resolved from $env:NAME)


@dataclass(frozen=True)
class Audience:
    key: str
    name: str = ""  # as people read it (`name:`, else the key in words: "It staff")
    email: tuple[str, ...] = ()
    teams: tuple[TeamsTarget, ...] = ()
    groups: tuple[str, ...] = ()  # Entra groups (`group:<object id or mail>` in `email:`)
    expand: bool = False  # True: each group member gets their own copy; else the group address


@dataclass(frozen=True)
class Severity:
    key: str
    rank: int  # 0 = most severe; the order of the policy file
    major: bool
    ack_within: timedelta | None = None
    update_every: timedelta | None = None
    first_update_within: timedelta | None = None
    resolve_within: timedelta | None = None
    review_within: timedelta | None = None
    notify: tuple[str, ...] = ()  # audience keys
    approve_updates: str | None = None  # the role whose holder approves others' updates


@dataclass(frozen=True)
class Criterion:
    """One rule of major_criteria; every condition given must hold (first match wins)."""

    name: str
    severity: str
    security: bool | None = None
    critical_service: bool | None = None
    impact: tuple[str, ...] = ()  # any of these
    affected_users_at_least: int | None = None
    reporters_at_least: int | None = None
    within: timedelta | None = None  # window for reporters_at_least
    services: tuple[str, ...] = ()  # any of these service keys
    keywords: tuple[str, ...] = ()  # any of these words in title/text


@dataclass(frozen=True)
class EscalationStep:
    after: timedelta
    notify: tuple[str, ...]  # "role:NAME", "role:NAME#2", "person:KEY", "audience:KEY"
    via: tuple[str, ...] = CHANNELS
    unless: str | None = None  # "acknowledged" or None


@dataclass(frozen=True)
class Layer:
    """One layer of an on-call schedule: a rotation of people, maybe restricted in time."""

    people: tuple[str, ...]
    start: date  # the first shift starts on this date (or the first hand-off weekday after)
    length: timedelta  # one shift: 1d (daily), 7d (weekly) or a custom duration
    handoff: time = time(9, 0)  # local wall-clock time of the hand-off
    handoff_day: int | None = None  # weekday of the hand-off (0 = Monday), weekly rotations
    hours: tuple[time, time] | None = None  # covered local hours; end <= start wraps midnight
    days: tuple[int, ...] | None = None  # covered weekdays (of the window's start)


@dataclass(frozen=True)
class Schedule:
    """An on-call schedule: later layers win where they cover the time."""

    name: str
    timezone: str
    layers: tuple[Layer, ...]
    line: int = 0  # where the policy file defines it (for warnings)


@dataclass(frozen=True)
class Intake:
    email_address: str | None = None
    allowed_senders: tuple[str, ...] = ("*",)
    correlation_window: timedelta = timedelta(minutes=10)
    max_message_bytes: int = 10 * 1024 * 1024
    rate_per_sender_per_hour: int = 30


@dataclass(frozen=True)
class AlertMatcher:
    """`name op "value"` as in Alertmanager: =, !=, =~, !~ (regular expressions match whole)."""

    name: str
    op: str
    value: str


@dataclass(frozen=True)
class AlertRule:
    """An `alerts:` rule: every matcher must hold; then the alert is about `service`."""

    name: str
    matchers: tuple[AlertMatcher, ...]
    service: str | None  # None: recorded only
    impact: str | None = None  # None: from the alert's severity
    severity: str | None = None  # a severity hint: at least this severe


@dataclass(frozen=True)
class AlertPolicy:
    rules: tuple[AlertRule, ...] = ()
    default_service: str | None = None  # for alerts no rule and no label maps; else recorded only
    quiet_time: timedelta = timedelta(minutes=30)  # a minor alert-only incident resolves then
    flapping_after: int = 3  # times fired before an alert is marked flapping


@dataclass(frozen=True)
class Policy:
    timezone: str
    people: dict[str, Person]
    services: dict[str, Service]
    roles: dict[str, tuple[str, ...]]  # role -> person keys or schedule:NAME[#next], in order
    audiences: dict[str, Audience]
    severities: dict[str, Severity]  # in file order, most severe first
    major_criteria: tuple[Criterion, ...]
    default_severity: str
    escalation: dict[str, tuple[EscalationStep, ...]]
    teams_pages_webhook: str | None = None
    bridge_url: str | None = None
    intake: Intake = field(default_factory=Intake)
    security_keywords: tuple[str, ...] = (
        "breach",
        "ransomware",
        "phishing",
        "malware",
        "compromised",
        "leak",
        "exfiltration",
        "unauthorized access",
        "unauthorised access",
        "hacked",
    )
    sla_warn_at: tuple[float, ...] = (0.5, 0.8)  # fractions of an SLA at which to warn
    review_tags: tuple[str, ...] = ()
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    checklists: dict[str, tuple[ChecklistItem, ...]] = field(default_factory=dict)  # by role
    source: str = "<policy>"  # file the policy came from
    # Domains whose addresses may subscribe by email (`subscriptions.allowed_domains`; default:
    # the `*@domain` patterns of intake.email.allowed_senders, else the people's domains).
    subscription_domains: tuple[str, ...] = ()

    def severity(self, key: str) -> Severity:
        """The severity by key (KeyError if unknown)."""
        return self.severities[key]

    def audience_name(self, key: str) -> str:
        """An audience as people read it: its `name:`, else its key in words (also for an
        audience no longer in the policy, named by older notices)."""
        found = self.audiences.get(key)
        return found.name if found and found.name else audience_words(key)

    def person_by_email(self, email: str) -> Person | None:
        """The person whose email or Teams UPN matches, case-insensitively."""
        needle = email.strip().lower()
        found = self.__dict__.get("_by_address")
        if found is None or found[0] != len(self.people):  # made once (people rarely change)
            index: dict[str, Person] = {}
            for p in reversed(self.people.values()):  # the first match wins, as in a scan
                for address in (p.teams, p.email):
                    if address:
                        index[address.lower()] = p
            found = self.__dict__["_by_address"] = (len(self.people), index)
        return found[1].get(needle)


def audience_words(key: str) -> str:
    """An audience key as words ("It staff" for `it-staff`): an audience with no `name:`."""
    return re.sub(r"[-_]+", " ", key).strip().capitalize()


def person_name(policy: Policy, key: str | None, nobody: str | None = "someone") -> str | None:
    """A person's name in the policy; other text (an address, a team) stays as it is, and
    `nobody` stands for no key (`the hub` in the console, None in review documents)."""
    if not key:
        return nobody
    person = policy.people.get(key)
    return person.name if person else key
