"""Load and validate the policy file (policy.yaml) into the objects of hub.policy_model.

Every problem is collected, with file, line and dotted field path, before PolicyError is
raised, so one run of `mihub policy check` shows everything there is to fix.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node

from hub.policy_checks import Problem, Reader, compose, is_null, parse_duration, possessive
from hub.policy_model import (
    CHANNELS,
    IMPACTS,
    ROLE_NAMES,
    Audience,
    Criterion,
    EscalationStep,
    Intake,
    Person,
    Policy,
    Service,
    Severity,
    TeamsTarget,
)

__all__ = [
    "PolicyError",
    "Problem",
    "check_policy",
    "check_policy_text",
    "load_policy",
    "parse_duration",
    "parse_policy",
]

log = logging.getLogger(__name__)

TOP_KEYS = (
    "timezone", "people", "services", "roles", "audiences", "severities", "major_criteria",
    "default_severity", "escalation", "teams", "bridge", "intake", "security_keywords", "sla",
    "reviews", "admins",
)  # fmt: skip
REQUIRED_TOP_KEYS = ("people", "severities", "default_severity")
KEYED_SECTIONS = ("people", "services", "audiences", "severities")  # others refer to their keys
PERSON_KEYS = ("name", "email", "teams", "aad_object_id")
SERVICE_KEYS = ("name", "aliases", "critical", "tech_lead", "users")
DURATION_KEYS = (
    "ack_within", "update_every", "first_update_within", "resolve_within", "review_within",
)  # fmt: skip
SEVERITY_KEYS = ("major", *DURATION_KEYS, "notify")
MAJOR_NEEDS = ("ack_within", "update_every")  # without them a major incident has no clock
CRITERION_KEYS = ("name", "if", "severity")
CONDITION_KEYS = (
    "security", "critical_service", "impact", "affected_users_at_least", "reporters_at_least",
    "within", "services", "keywords",
)  # fmt: skip
STEP_KEYS = ("after", "notify", "via", "unless")
EMAIL_INTAKE_KEYS = ("address", "allowed_senders", "max_message_bytes", "rate_per_sender_per_hour")
_GUID_RE = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


class PolicyError(Exception):
    """The policy has problems: `.problems` lists them all, str() gives one per line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_policy(path: str | os.PathLike, env: Mapping[str, str] = os.environ) -> Policy:
    """The policy in the file at `path`; PolicyError lists every problem, OSError if unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([_not_utf8(str(path), exc)]) from None
    return parse_policy(text, str(path), env)


def parse_policy(
    text: str, source: str = "<string>", env: Mapping[str, str] = os.environ
) -> Policy:
    """The policy in YAML `text`, located as `source` in problems; PolicyError lists them all."""
    return _accept(*check_policy_text(text, source, env))


def check_policy(
    path: str | os.PathLike, env: Mapping[str, str] = os.environ
) -> tuple[Policy | None, list[Problem], list[str]]:
    """(policy or None, problems, warnings) for the file at `path`; bad input never raises."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(source, None, "", f"cannot read the policy file: {exc.strerror}")], []
    except UnicodeDecodeError as exc:
        return None, [_not_utf8(source, exc)], []
    return check_policy_text(text, source, env)


def check_policy_text(
    text: str, source: str = "<string>", env: Mapping[str, str] = os.environ
) -> tuple[Policy | None, list[Problem], list[str]]:
    """(policy or None, problems, warnings) for YAML `text`; bad input never raises."""
    try:
        root = compose(text)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(source, exc)], []
    except yaml.YAMLError as exc:
        return None, [Problem(source, None, "", f"not valid YAML: {exc}")], []
    if root is None:
        return None, [Problem(source, 1, "", "the policy is empty")], []
    reader = Reader(source, env)
    policy = _read_policy(reader, root)
    problems = sorted(reader.problems, key=lambda p: p.line or 0)
    return (None if problems else policy), problems, reader.warnings


def _accept(policy: Policy | None, problems: list[Problem], warnings: list[str]) -> Policy:
    if problems or policy is None:
        raise PolicyError(problems)
    for warning in warnings:
        log.warning("policy: %s", warning)
    return policy


def _not_utf8(source: str, exc: UnicodeDecodeError) -> Problem:
    return Problem(
        source, None, "", f"the policy file is not UTF-8: {exc.reason} at byte {exc.start}"
    )


def _syntax_problem(source: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"not valid YAML: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark:
        message += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
    return Problem(source, mark.line + 1 if mark else None, "", message)


def _known_keys(name: str, entries: list | None, top: dict) -> tuple[str, ...] | None:
    if entries is None or (name in REQUIRED_TOP_KEYS and name not in top):
        return None  # reported once already; not again at every reference to it
    return tuple(key for key, _, _ in entries)


def _read_policy(r: Reader, root: Node) -> Policy | None:
    top = r.mapping(root, "", TOP_KEYS)
    if top is None:
        return None
    for name in REQUIRED_TOP_KEYS:
        if name not in top:
            r.problem(None, name, "required but missing")
    # Read every section's keys first, so references are checked even when a value is broken.
    sections = {name: r.entries(top.get(name), name) for name in KEYED_SECTIONS}
    # known: keys that references may name; None for a section too broken to check against
    known = {name: _known_keys(name, sections[name], top) for name in KEYED_SECTIONS}
    for name in ("people", "severities"):
        if sections[name] == [] and name in top:
            r.problem(top[name], name, "needs at least one entry")
    admins = r.refs(top.get("admins"), "admins", known["people"], "person")
    roles = known["roles"] = _read_roles(r, top.get("roles"), known)
    policy = Policy(
        timezone=r.timezone(top.get("timezone"), "timezone") or "UTC",
        people=_read_people(r, sections["people"], set(admins)),
        services=_read_services(r, sections["services"], known),
        roles=roles or {},
        audiences=_read_audiences(r, sections["audiences"]),
        severities=_read_severities(r, sections["severities"], known),
        major_criteria=_read_criteria(r, top.get("major_criteria"), known),
        default_severity=r.ref(
            top.get("default_severity"), "default_severity", known["severities"], "severity"
        ),
        escalation=_read_escalation(r, top.get("escalation"), known),
        source=r.source,
        **_read_extras(r, top),
    )
    return None if r.problems else policy


def _title(key: str) -> str:
    return re.sub(r"[-_]+", " ", key).title()


def _read_people(r: Reader, entries: list | None, admins: set[str]) -> dict[str, Person]:
    people, owner_of = {}, {}  # owner_of: lower-cased email or UPN -> person key
    for key, _, node in entries or []:
        path = f"people.{key}"
        f = r.mapping(node, path, PERSON_KEYS)
        if f is None:
            continue
        aad = r.string(f.get("aad_object_id"), f"{path}.aad_object_id")
        if aad is not None and not _GUID_RE.fullmatch(aad):
            example = "6f0b1c2e-0000-4000-8000-000000000001"
            message = f"expected an Entra object id like {example}, got {aad!r}"
            r.problem(f["aad_object_id"], f"{path}.aad_object_id", message)
        if "email" not in f and "teams" not in f:
            r.warn(node, path, "has neither email nor teams, so they cannot be paged")
        people[key] = Person(
            key=key,
            name=r.string(f.get("name"), f"{path}.name") or _title(key),
            email=r.email(f.get("email"), f"{path}.email"),
            teams=r.email(f.get("teams"), f"{path}.teams"),
            aad_object_id=aad,
            admin=key in admins,
        )
        for name in ("email", "teams"):  # mail and Teams messages are matched to people by these
            address = getattr(people[key], name)
            owner = owner_of.setdefault(address.lower(), key) if address else key
            if owner != key:
                r.problem(f[name], f"{path}.{name}", f"{address!r} already belongs to {owner!r}")
    return people


def _read_services(r: Reader, entries: list | None, known: dict) -> dict[str, Service]:
    services = {}
    named_by = {key.lower(): key for key, _, _ in entries or []}  # a key works as an alias too
    for key, _, node in entries or []:
        path = f"services.{key}"
        f = r.mapping(node, path, SERVICE_KEYS)
        if f is None:
            continue
        aliases = []
        for field, item in r.items(f.get("aliases"), f"{path}.aliases"):
            alias = r.string(item, field)
            owner = named_by.setdefault(alias.lower(), key) if alias else key
            if owner != key:
                r.problem(item, field, f"alias {alias!r} already names service {owner!r}")
            elif alias and alias not in aliases:
                aliases.append(alias)
        services[key] = Service(
            key=key,
            name=r.string(f.get("name"), f"{path}.name") or _title(key),
            aliases=tuple(aliases),
            critical=bool(r.boolean(f.get("critical"), f"{path}.critical")),
            tech_lead=r.refs(f.get("tech_lead"), f"{path}.tech_lead", known["people"], "person"),
            users=r.integer(f.get("users"), f"{path}.users", minimum=0),
        )
    return services


def _read_roles(r: Reader, node: Node | None, known: dict) -> dict[str, tuple[str, ...]] | None:
    f = r.mapping(node, "roles", ROLE_NAMES, required=("major_incident_manager",), what="role")
    if f is None:
        return None
    roles = {}
    for role, value in f.items():
        roles[role] = r.refs(value, f"roles.{role}", known["people"], "person")
        if r.seq(value, f"roles.{role}", single_ok=True) == []:
            r.problem(value, f"roles.{role}", "needs at least one person on duty")
    return roles


def _read_audiences(r: Reader, entries: list | None) -> dict[str, Audience]:
    audiences = {}
    for key, _, node in entries or []:
        path = f"audiences.{key}"
        f = r.mapping(node, path, ("email", "teams"))
        if f is None:
            continue
        targets = []
        for i, item in enumerate(r.seq(f.get("teams"), f"{path}.teams") or []):
            field = f"{path}.teams[{i}]"
            target = r.mapping(item, field, ("webhook",), required=("webhook",)) or {}
            skipped = f"{possessive(key)} Teams target will be skipped"
            url = r.url(target.get("webhook"), f"{field}.webhook", skipped, secret=True)
            if url:
                targets.append(TeamsTarget(webhook=url))
        emails = r.emails(f.get("email"), f"{path}.email")
        audiences[key] = Audience(key=key, email=emails, teams=tuple(targets))
    return audiences


def _read_severities(r: Reader, entries: list | None, known: dict) -> dict[str, Severity]:
    severities = {}
    for rank, (key, _, node) in enumerate(entries or []):
        path = f"severities.{key}"
        f = r.mapping(node, path, SEVERITY_KEYS)
        if f is None:
            continue
        major = bool(r.boolean(f.get("major"), f"{path}.major"))
        durations = {name: r.duration(f.get(name), f"{path}.{name}") for name in DURATION_KEYS}
        for name in MAJOR_NEEDS if major else ():
            if name not in f:
                r.problem(node, f"{path}.{name}", "required for a major severity (major: true)")
        notify = r.refs(f.get("notify"), f"{path}.notify", known["audiences"], "audience")
        severities[key] = Severity(key=key, rank=rank, major=major, notify=notify, **durations)
    return severities


def _read_criteria(r: Reader, node: Node | None, known: dict) -> tuple[Criterion, ...]:
    criteria, first_line, catch_all = [], {}, None
    for i, item in enumerate(r.seq(node, "major_criteria") or []):
        path = f"major_criteria[{i}]"
        f = r.mapping(item, path, CRITERION_KEYS, required=("name", "severity"))
        if f is None:
            continue
        name = r.string(f.get("name"), f"{path}.name")
        if name in first_line:
            r.problem(
                f["name"], f"{path}.name", f"duplicate rule name (first on line {first_line[name]})"
            )
        elif name is not None:
            first_line[name] = r.line(f["name"])
        severity = r.ref(f.get("severity"), f"{path}.severity", known["severities"], "severity")
        conditions = _read_conditions(r, f.get("if"), f"{path}.if", known)
        if catch_all is not None:
            r.problem(item, path, f"can never match: rule {catch_all!r} above matches everything")
        elif is_null(f.get("if")) or (isinstance(f["if"], MappingNode) and not f["if"].value):
            catch_all = name or f"#{i}"
        if name and severity and conditions is not None:
            criteria.append(Criterion(name=name, severity=severity, **conditions))
    return tuple(criteria)


def _read_conditions(r: Reader, node: Node | None, path: str, known: dict) -> dict | None:
    f = r.mapping(node, path, CONDITION_KEYS, what="condition")
    if f is None:
        return None
    if "within" in f and "reporters_at_least" not in f:
        message = "only applies together with reporters_at_least (reports within this window)"
        r.problem(f["within"], f"{path}.within", message)
    c = {
        "security": r.boolean(f.get("security"), f"{path}.security"),
        "critical_service": r.boolean(f.get("critical_service"), f"{path}.critical_service"),
        "impact": r.refs(f.get("impact"), f"{path}.impact", IMPACTS, "impact"),
        "services": r.refs(f.get("services"), f"{path}.services", known["services"], "service"),
        "keywords": r.strings(f.get("keywords"), f"{path}.keywords"),
        "within": r.duration(f.get("within"), f"{path}.within"),
    }
    for key in ("affected_users_at_least", "reporters_at_least"):
        c[key] = r.integer(f.get(key), f"{path}.{key}", minimum=1)
    return {key: value for key, value in c.items() if value is not None}


def _read_escalation(
    r: Reader, node: Node | None, known: dict
) -> dict[str, tuple[EscalationStep, ...]]:
    escalation = {}
    for key, key_node, value in r.entries(node, "escalation") or []:
        path = f"escalation.{key}"
        r.ref(key_node, path, known["severities"], "severity")
        steps, latest = [], None  # latest: (after, as written) of the latest step so far
        for i, item in enumerate(r.seq(value, path) or []):
            f = r.mapping(item, f"{path}[{i}]", STEP_KEYS, required=("after", "notify"))
            if f is None:
                continue
            steps.append(_read_step(r, f, f"{path}[{i}]", known, latest))
            if "after" in f and (latest is None or steps[-1].after >= latest[0]):
                latest = (steps[-1].after, f["after"].value)
        escalation[key] = tuple(steps)
    return escalation


def _read_step(
    r: Reader, f: dict[str, Node], path: str, known: dict, latest: tuple | None
) -> EscalationStep:
    after = r.duration(f.get("after"), f"{path}.after", positive=False)
    if after is not None and latest is not None and after < latest[0]:
        message = f"steps must be in order of 'after': {f['after'].value} comes after {latest[1]}"
        r.problem(f["after"], f"{path}.after", message)
    for name in ("notify", "via"):
        if name in f and r.seq(f[name], f"{path}.{name}", single_ok=True) == []:
            r.problem(f[name], f"{path}.{name}", "needs at least one entry")
    unless = r.string(f.get("unless"), f"{path}.unless")
    if unless not in (None, "acknowledged"):
        r.problem(
            f["unless"], f"{path}.unless", f"unknown condition {unless!r}; expected 'acknowledged'"
        )
    return EscalationStep(
        after=after or timedelta(0),
        notify=r.targets(f.get("notify"), f"{path}.notify", known),
        via=r.refs(f.get("via"), f"{path}.via", CHANNELS, "channel") or CHANNELS,
        unless=unless,
    )


def _read_extras(r: Reader, top: dict[str, Node]) -> dict:
    """Policy arguments from teams, bridge, intake, security_keywords, sla and reviews."""
    out: dict = {"intake": _read_intake(r, top.get("intake"))}
    teams = r.mapping(top.get("teams"), "teams", ("pages_webhook",)) or {}
    skipped = "pages will not be posted to the responders' Teams channel"
    out["teams_pages_webhook"] = r.url(
        teams.get("pages_webhook"), "teams.pages_webhook", skipped, secret=True
    )
    bridge = r.mapping(top.get("bridge"), "bridge", ("url",)) or {}
    skipped = "pages and updates will go out without a bridge link"
    out["bridge_url"] = r.url(bridge.get("url"), "bridge.url", skipped, secret=False)
    if "security_keywords" in top:
        out["security_keywords"] = r.strings(top["security_keywords"], "security_keywords")
    sla = r.mapping(top.get("sla"), "sla", ("warn_at",)) or {}
    if "warn_at" in sla:
        out["sla_warn_at"] = r.fractions(sla["warn_at"], "sla.warn_at")
    reviews = r.mapping(top.get("reviews"), "reviews", ("tags_allowed",)) or {}
    out["review_tags"] = r.strings(reviews.get("tags_allowed"), "reviews.tags_allowed")
    return out


def _read_intake(r: Reader, node: Node | None) -> Intake:
    f = r.mapping(node, "intake", ("email", "correlation_window")) or {}
    email = r.mapping(f.get("email"), "intake.email", EMAIL_INTAKE_KEYS) or {}
    path = "intake.email"
    kwargs = {
        "email_address": r.email(email.get("address"), f"{path}.address"),
        "correlation_window": r.duration(f.get("correlation_window"), "intake.correlation_window"),
        "max_message_bytes": r.integer(
            email.get("max_message_bytes"), f"{path}.max_message_bytes", 1024
        ),
        "rate_per_sender_per_hour": r.integer(
            email.get("rate_per_sender_per_hour"), f"{path}.rate_per_sender_per_hour", 1
        ),
    }
    if "allowed_senders" in email:
        kwargs["allowed_senders"] = r.senders(email["allowed_senders"], f"{path}.allowed_senders")
    return Intake(**{key: value for key, value in kwargs.items() if value is not None})
