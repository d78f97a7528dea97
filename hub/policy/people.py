"""The people, services, roles and audiences sections of the policy file, read into the model."""

from __future__ import annotations

import re

from yaml.nodes import Node, ScalarNode, SequenceNode

from hub.policy.aliases import check_aliases
from hub.policy.checklists import read_runbook
from hub.policy.checks import Reader, possessive
from hub.policy.model import ROLE_NAMES, Audience, Person, Service, TeamsTarget, audience_words
from hub.policy.schedules import roster_entries

PERSON_KEYS = ("name", "email", "teams", "aad_object_id")
SERVICE_KEYS = ("name", "aliases", "critical", "tech_lead", "users", "runbook", "public")
_GUID_RE = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _title(key: str) -> str:
    return re.sub(r"[-_]+", " ", key).title()


def read_people(r: Reader, entries: list | None, admins: set[str]) -> dict[str, Person]:
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


def read_services(r: Reader, entries: list | None, known: dict) -> dict[str, Service]:
    services = {}
    named_by = {key.lower(): key for key, _, _ in entries or []}  # a key works as an alias too
    named = []  # (service, alias, node, field) for the alias warnings
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
                named.append((key, alias, item, field))
        services[key] = Service(
            key=key,
            name=r.string(f.get("name"), f"{path}.name") or _title(key),
            aliases=tuple(aliases),
            critical=bool(r.boolean(f.get("critical"), f"{path}.critical")),
            tech_lead=r.refs(f.get("tech_lead"), f"{path}.tech_lead", known["people"], "person"),
            users=r.integer(f.get("users"), f"{path}.users", minimum=0),
            runbook=read_runbook(r, f.get("runbook"), f"{path}.runbook"),
            public=bool(r.boolean(f.get("public"), f"{path}.public")),
        )
    check_aliases(r, named)
    return services


def read_roles(r: Reader, node: Node | None, known: dict) -> tuple[dict | None, dict | None]:
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
        roles[role] = roster_entries(r, value, f"roles.{role}", known)
        rosters[role] = r.seq(value, f"roles.{role}", single_ok=True)
        if rosters[role] == []:
            r.problem(value, f"roles.{role}", "needs at least one person on duty")
    return roles, rosters


def read_audiences(r: Reader, entries: list | None) -> dict[str, Audience]:
    audiences = {}
    for key, _, node in entries or []:
        path = f"audiences.{key}"
        f = r.mapping(node, path, ("name", "email", "teams", "expand"))
        if f is None:
            continue
        groups, f["email"] = read_groups(r, f.get("email"), f"{path}.email")
        targets = []
        for i, item in enumerate(r.seq(f.get("teams"), f"{path}.teams") or []):
            field = f"{path}.teams[{i}]"
            target = r.mapping(item, field, ("webhook",), required=("webhook",)) or {}
            skipped = f"{possessive(key)} Teams target will be skipped"
            url = r.url(target.get("webhook"), f"{field}.webhook", skipped, secret=True)
            if url:
                targets.append(TeamsTarget(webhook=url))
        emails = r.emails(f.get("email"), f"{path}.email")
        expand = bool(r.boolean(f.get("expand"), f"{path}.expand"))
        audiences[key] = Audience(
            key=key,
            name=r.string(f.get("name"), f"{path}.name") or audience_words(key),
            email=emails,
            teams=tuple(targets),
            groups=groups,
            expand=expand,
        )
    return audiences


def read_groups(r: Reader, node, field: str):
    """The `group:<object id or mail>` entries of an audience's `email:` list (lower case),
    and the node with only the plain addresses left."""
    if isinstance(node, ScalarNode) and str(node.value).lower().startswith("group:"):
        node = SequenceNode("tag:yaml.org,2002:seq", [node], node.start_mark, node.end_mark)
    if not isinstance(node, SequenceNode):
        return (), node
    groups, rest = [], []
    for i, item in enumerate(node.value):
        value = item.value if isinstance(item, ScalarNode) else None
        if isinstance(value, str) and value.lower().startswith("group:"):
            ref = value[len("group:") :].strip().lower()
            if not ref:
                r.problem(item, f"{field}[{i}]", "expected group:<object id or mail address>")
            else:
                groups.append(ref)
        else:
            rest.append(item)
    return tuple(groups), SequenceNode(node.tag, rest, node.start_mark, node.end_mark)
