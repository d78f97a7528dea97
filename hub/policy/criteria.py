"""The major_criteria section of the policy file: rules read, contradictions and dead rules."""

from __future__ import annotations

from datetime import timedelta

from yaml.nodes import MappingNode, Node

from hub.policy.checks import Reader, is_null
from hub.policy.model import IMPACTS, Criterion, Service

CRITERION_KEYS = ("name", "if", "severity")
CONDITION_KEYS = (
    "security", "critical_service", "impact", "affected_users_at_least", "reporters_at_least",
    "within", "services", "keywords",
)  # fmt: skip


def read_criteria(
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
