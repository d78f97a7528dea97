"""Load and validate the policy file (policy.yaml) into the objects of hub.policy.model.

Every problem is collected, with file, line and dotted field path, before PolicyError is
raised, so one run of `mihub policy check` shows everything there is to fix. Each section
is read by its own module (people, severities, criteria, intake); this one reads the file,
the top level and the small sections.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from yaml.nodes import Node

from hub.policy.alerts import read_alerts
from hub.policy.checklists import read_checklists
from hub.policy.checks import Problem, Reader, compose
from hub.policy.criteria import read_criteria
from hub.policy.intake import read_intake
from hub.policy.model import Policy
from hub.policy.people import read_audiences, read_people, read_roles, read_services
from hub.policy.schedules import read_schedules
from hub.policy.severities import read_escalation, read_severities
from hub.policy.syntax import syntax_problem
from hub.policy.templates import install, read_overrides

log = logging.getLogger(__name__)

TOP_KEYS = (
    "timezone", "people", "services", "roles", "audiences", "severities", "major_criteria",
    "default_severity", "escalation", "teams", "bridge", "intake", "security_keywords", "sla",
    "reviews", "admins", "alerts", "schedules", "checklists", "subscriptions",
)  # fmt: skip
REQUIRED_TOP_KEYS = ("people", "severities", "default_severity")
KEYED_SECTIONS = ("people", "services", "audiences", "severities")  # others refer to their keys


class PolicyError(Exception):
    """The policy has problems: `.problems` lists them all, str() gives one per line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_policy(
    path: str | os.PathLike, env: Mapping[str, str] = os.environ, *, log_warnings: bool = True
) -> Policy:
    """The policy in the file at `path`; PolicyError lists every problem, OSError if unreadable.

    Its warnings are logged, each once per process, unless `log_warnings` is false.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([_not_utf8(str(path), exc)]) from None
    policy, problems, warnings = check_policy_text(text, str(path), env)
    overrides, more, notes = read_overrides(path)  # its templates go with it, or neither
    policy = _accept(policy, problems + more, (warnings + notes) if log_warnings else [])
    install(path, overrides)
    return policy


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
    policy, problems, warnings = check_policy_text(text, source, env)
    _, more, notes = read_overrides(path)
    return (None if more else policy), problems + more, warnings + notes


def check_policy_text(
    text: str, source: str = "<string>", env: Mapping[str, str] = os.environ
) -> tuple[Policy | None, list[Problem], list[str]]:
    """(policy or None, problems, warnings) for YAML `text`; bad input never raises."""
    try:
        root = compose(text)
    except yaml.MarkedYAMLError as exc:
        return None, [syntax_problem(source, exc, text)], []
    except yaml.YAMLError as exc:
        return None, [Problem(source, None, "", f"not valid YAML: {exc}")], []
    if root is None:
        return None, [Problem(source, 1, "", "the policy is empty")], []
    reader = Reader(source, env)
    policy = _read_policy(reader, root)
    problems = sorted(reader.problems, key=lambda p: p.line or 0)
    return (None if problems else policy), problems, reader.warnings


# Warnings this process has logged: a policy loaded again (a reload after the file was
# touched, or a second Hub of the same process) does not say the same thing again.
_logged_warnings: set[str] = set()
_logged_lock = threading.Lock()


def _accept(policy: Policy | None, problems: list[Problem], warnings: list[str]) -> Policy:
    if problems or policy is None:
        raise PolicyError(problems)
    for warning in warnings:
        with _logged_lock:
            new = warning not in _logged_warnings
            _logged_warnings.add(warning)
        if new:
            log.warning("policy: %s", warning)
    return policy


def _not_utf8(source: str, exc: UnicodeDecodeError) -> Problem:
    return Problem(
        source, None, "", f"the policy file is not UTF-8: {exc.reason} at byte {exc.start}"
    )


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
    schedule_entries = r.entries(top.get("schedules"), "schedules")
    known["schedules"] = None if schedule_entries is None else [k for k, _, _ in schedule_entries]
    timezone = r.timezone(top.get("timezone"), "timezone") or "UTC"
    schedules = read_schedules(r, schedule_entries, known["people"], timezone)
    roles, known["roles"] = read_roles(r, top.get("roles"), known)
    intake = read_intake(r, top.get("intake"))  # its correlation_window is a rule default
    services = read_services(r, sections["services"], known)
    policy = Policy(
        timezone=timezone,
        people=read_people(r, sections["people"], set(admins)),
        services=services,
        roles=roles or {},
        audiences=read_audiences(r, sections["audiences"]),
        severities=read_severities(r, sections["severities"], known),
        major_criteria=read_criteria(
            r, top.get("major_criteria"), known, services, intake.correlation_window
        ),
        default_severity=r.ref(
            top.get("default_severity"), "default_severity", known["severities"], "severity"
        ),
        escalation=read_escalation(r, top.get("escalation"), known),
        checklists=read_checklists(r, top.get("checklists"), known),
        source=r.source,
        intake=intake,
        alerts=read_alerts(r, top.get("alerts"), known),
        schedules=schedules,
        **_read_extras(r, top),
    )
    return None if r.problems else policy


def _read_extras(r: Reader, top: dict[str, Node]) -> dict:
    """Policy arguments from teams, bridge, security_keywords, sla and reviews."""
    out: dict = {}
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
    subs = r.mapping(top.get("subscriptions"), "subscriptions", ("allowed_domains",)) or {}
    domains = r.strings(subs.get("allowed_domains"), "subscriptions.allowed_domains")
    out["subscription_domains"] = tuple(d.strip().lstrip("@").lower() for d in domains)
    return out
