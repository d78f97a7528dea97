"""Load and validate the policy file (policy.yaml) into the objects of hub.policy.model.

Every problem is collected, with file, line and dotted field path, before PolicyError is
raised, so one run of `mihub policy check` shows everything there is to fix.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node

from hub.channels.registry import channel_names
from hub.policy.checks import Problem, Reader, compose, is_null, parse_duration, possessive
from hub.policy.model import (
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
    return _accept(policy, problems, warnings if log_warnings else [])


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
        return None, [_syntax_problem(source, exc, text)], []
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


# Errors found inside something that starts at the context mark and is reported where the
# parser gave up, often lines later: the place to fix is where it starts.
_STARTS_AT_CONTEXT = (
    "while scanning a simple key",  # a key without its colon: noticed on the next line
    "while scanning a quoted scalar",  # an unclosed quote
    "while scanning a block scalar",
)
_FLOW = {"while parsing a flow sequence": "]", "while parsing a flow mapping": "}"}


def _syntax_problem(source: str, exc: yaml.MarkedYAMLError, text: str) -> Problem:
    """The syntax error located where it is to be fixed, with the field being parsed."""
    problem, context = exc.problem_mark, exc.context_mark
    at_context = context is not None and (
        exc.context in _STARTS_AT_CONTEXT
        or (exc.context in _FLOW and problem is not None and not _closed(text, context, problem))
    )
    mark = context if at_context or problem is None else problem
    message = f"not valid YAML: {exc.problem or exc.context}"
    if at_context and exc.context in _FLOW:
        message = (
            f"not valid YAML: this {text[context.index]!r} is never closed with "
            f"{_FLOW[exc.context]!r} (the parser gave up on line {problem.line + 1}: {exc.problem})"
        )
    elif at_context and problem is not None and problem.line != context.line:
        message += f" ({exc.context} that starts here; noticed on line {problem.line + 1})"
    elif exc.context and exc.problem and context and context.line != mark.line:
        message += f" ({exc.context} that starts on line {context.line + 1})"
    field = _field_at(text, context, exc.context == "while scanning a simple key")
    return Problem(source, mark.line + 1 if mark else None, field, message)


def _closed(text: str, start, end) -> bool:
    """Whether the bracket at mark `start` is closed before mark `end` (quotes and comments
    skipped): if not, it is the unclosed bracket the parser ran past."""
    depth, quote, comment = 0, None, False
    for i in range(start.index, min(end.index, len(text))):
        ch = text[i]
        if comment:
            comment = ch != "\n"
        elif quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t\n"):
            comment = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return True
    return False


def _awaits_key(collection: list | None) -> bool:
    return bool(collection) and isinstance(collection[0], dict) and not collection[1]


def _field_at(text: str, context, simple_key: bool) -> str:
    """The dotted field being parsed when the syntax error came: the keys of the YAML that
    parsed before it, cut at the collection that starts at `context`; "" if unknown."""
    path: list[list] = []  # per open collection: [key or items done, pending?, start mark]
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            top = path[-1] if path else None
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                path.pop()
                top = path[-1] if path else None
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                path.append([{} if isinstance(event, yaml.MappingStartEvent) else 0, False,
                             event.start_mark])  # fmt: skip
                if top is not None:
                    continue  # the parent's pending key or item stays pending until the end
            elif isinstance(event, yaml.ScalarEvent) and _awaits_key(top):
                top[0], top[1] = {"key": event.value}, True  # a key: its value comes next
                continue
            if isinstance(event, (yaml.NodeEvent, yaml.CollectionEndEvent)) and path:
                top = path[-1]
                if isinstance(top[0], int):
                    top[0] += 1
                else:
                    top[1] = False  # the value is done: the mapping waits for a key
    except yaml.YAMLError:
        pass
    if context is not None:  # the collection the error is in, and its own key
        cut = next((n for n, c in enumerate(path) if c[2].index == context.index), None)
        path = path[:cut] if cut is not None else path
    field = ""
    for key, pending, _ in path:
        if isinstance(key, int):
            field = f"{field}[{key}]"  # the item being parsed
        elif pending and key:
            field = f"{field}.{key['key']}" if field else key["key"]
    if simple_key and context is not None:  # the key that lacks its colon
        words = text[context.index :].split("\n", 1)[0].split()
        if words:
            field = f"{field}.{words[0]}" if field else words[0]
    return field


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
    roles, known["roles"] = _read_roles(r, top.get("roles"), known)
    intake = _read_intake(r, top.get("intake"))  # its correlation_window is a rule default
    services = _read_services(r, sections["services"], known)
    policy = Policy(
        timezone=r.timezone(top.get("timezone"), "timezone") or "UTC",
        people=_read_people(r, sections["people"], set(admins)),
        services=services,
        roles=roles or {},
        audiences=_read_audiences(r, sections["audiences"]),
        severities=_read_severities(r, sections["severities"], known),
        major_criteria=_read_criteria(
            r, top.get("major_criteria"), known, services, intake.correlation_window
        ),
        default_severity=r.ref(
            top.get("default_severity"), "default_severity", known["severities"], "severity"
        ),
        escalation=_read_escalation(r, top.get("escalation"), known),
        source=r.source,
        intake=intake,
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


def _read_roles(r: Reader, node: Node | None, known: dict) -> tuple[dict | None, dict | None]:
    """(roles: the valid people on duty per role, rosters: each role's entries as written).

    Escalation targets like role:NAME#2 are checked against the rosters as written (None: a
    roster too broken to count), so an unknown person is reported once, not again as a
    roster shorter than the file shows.
    """
    f = r.mapping(node, "roles", ROLE_NAMES, required=("major_incident_manager",), what="role")
    if f is None:
        return None, None
    roles, rosters = {}, {}
    for role, value in f.items():
        roles[role] = r.refs(value, f"roles.{role}", known["people"], "person")
        rosters[role] = r.seq(value, f"roles.{role}", single_ok=True)
        if rosters[role] == []:
            r.problem(value, f"roles.{role}", "needs at least one person on duty")
    return roles, rosters


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


def _read_criteria(
    r: Reader, node: Node | None, known: dict, services: dict[str, Service], window: timedelta
) -> tuple[Criterion, ...]:
    criteria, first_line, catch_all = [], {}, None
    earlier: list[tuple[Criterion, int]] = []  # sound rules above, for the shadowing check
    for i, item in enumerate(r.seq(node, "major_criteria") or []):
        path = f"major_criteria[{i}]"
        problems_before = len(r.problems)
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
        if conditions is not None and "if" in f:
            _check_contradiction(r, f["if"], f"{path}.if", conditions, services)
        if catch_all is not None:
            r.problem(item, path, f"can never match: rule {catch_all!r} above matches everything")
        elif is_null(f.get("if")) or (isinstance(f["if"], MappingNode) and not f["if"].value):
            catch_all = name or f"#{i}"
        if name and severity and conditions is not None:
            criteria.append(Criterion(name=name, severity=severity, **conditions))
            if catch_all is None and len(r.problems) == problems_before:  # read as written
                _check_shadowed(r, item, path, criteria[-1], earlier, window, services)
                earlier.append((criteria[-1], r.line(item)))
    return tuple(criteria)


def _check_contradiction(
    r: Reader, node: Node, path: str, c: dict, services: dict[str, Service]
) -> None:
    """critical_service against the criticality of the services the rule names."""
    named = [services[key] for key in c.get("services", ()) if key in services]
    if c.get("critical_service") is None or not named:
        return
    listed = ", ".join(s.key for s in named)
    node = next((v for k, v in node.value if k.value == "critical_service"), node)
    if c["critical_service"] and not any(s.critical for s in named):
        message = (  # a warning: it still matches when a critical service is down as well
            f"critical_service: true, but none of the listed services ({listed}) is critical "
            "in the catalogue, so this rule never matches a report about them alone; "
            "list a critical service or drop critical_service"
        )
        r.warn(node, f"{path}.critical_service", message)
    elif c["critical_service"] is False and all(s.critical for s in named):
        message = (
            f"can never match: critical_service: false needs no critical service affected, "
            f"but every listed service ({listed}) is critical; drop one of the two conditions"
        )
        r.problem(node, f"{path}.critical_service", message)


def _keyword(word: str) -> str:
    """A keyword as classification matches it: spacing never matters, case only beyond ASCII."""
    word = " ".join(word.split())
    return word.lower() if word.isascii() else word


def _implied_critical(b: Criterion, services: dict[str, Service]) -> bool | None:
    """The critical_service that every report matching `b` certainly has, if known.

    Classification calls a report critical when any of its services (named by the reporter
    or found in the text) is critical, and `services:` matches when one of them is listed.
    So when every listed service is critical, a matching report names a critical service:
    critical_service: true is implied. So it is when every keyword is a critical service's
    key or alias: a text with the keyword names the service. Nothing implies false (the
    text may name other services).
    """
    if b.critical_service is not None:
        return b.critical_service
    if b.services and all(key in services and services[key].critical for key in b.services):
        return True
    terms = {_keyword(t) for s in services.values() if s.critical for t in (s.key, *s.aliases)}
    if b.keywords and all(_keyword(k) in terms for k in b.keywords):
        return True
    return None


def _always_matches_first(
    a: Criterion, b: Criterion, window: timedelta, services: dict[str, Service]
) -> bool:
    """True if rule `a` matches every report that rule `b` matches (see hub.core.classify).

    Conservative: only what is certain from the conditions alone, condition by condition;
    a condition kind that `a` has and `b` lacks means `a` may fail where `b` holds. The one
    derived condition is critical_service: true (see _implied_critical). Security is never
    derived from keywords: a reporter's security: false wins over them.
    """
    if a.security is not None and a.security != b.security:
        return False
    if a.critical_service is not None and a.critical_service != _implied_critical(b, services):
        return False
    if a.impact and not (b.impact and set(b.impact) <= set(a.impact)):
        return False
    if a.affected_users_at_least is not None and (
        b.affected_users_at_least is None or a.affected_users_at_least > b.affected_users_at_least
    ):
        return False
    if a.reporters_at_least is not None and (
        b.reporters_at_least is None
        or a.reporters_at_least > b.reporters_at_least
        or (a.within or window) < (b.within or window)
    ):
        return False
    if a.services and not (b.services and set(b.services) <= set(a.services)):
        return False
    return not a.keywords or bool(
        b.keywords and {_keyword(k) for k in b.keywords} <= {_keyword(k) for k in a.keywords}
    )


def _check_shadowed(
    r: Reader,
    item: Node,
    path: str,
    rule: Criterion,
    earlier: list[tuple[Criterion, int]],
    window: timedelta,
    services: dict[str, Service],
) -> None:
    """A rule that an earlier rule always matches first (first match wins) is dead."""
    for above, line in earlier:
        if _always_matches_first(above, rule, window, services):
            message = (
                f"can never match: rule {above.name!r} on line {line} matches every report "
                "this rule matches and comes first; move this rule above it or narrow it"
            )
            r.problem(item, path, message)
            return


def _read_conditions(r: Reader, node: Node | None, path: str, known: dict) -> dict | None:
    f = r.mapping(node, path, CONDITION_KEYS, what="condition")
    if f is None:
        return None
    if "within" in f and "reporters_at_least" not in f:
        message = "only applies together with reporters_at_least (reports within this window)"
        r.problem(f["within"], f"{path}.within", message)
    for key, what in (("impact", "impact"), ("services", "service"), ("keywords", "keyword")):
        if key in f and r.seq(f[key], f"{path}.{key}", single_ok=True) == []:
            message = (
                f"must list at least one {what}; an empty list is no condition at all, "
                "so the rule would match every report (leave the condition out instead)"
            )
            r.problem(f[key], f"{path}.{key}", message)
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
        via=r.refs(f.get("via"), f"{path}.via", channel_names(), "channel") or CHANNELS,
        unless=unless,
    )


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
