"""Typed reading of policy YAML nodes: each check records a Problem (file, line, field)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hub.policy.model import ROLE_NAMES

DURATION_HINT = "a duration like 90s, 5m, 4h or 2d"
ENV_PREFIX = "$env:"
_DURATION_RE = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
_TARGET_RE = re.compile(r"(role|person|audience|schedule):([A-Za-z0-9_.-]+)(?:#([0-9]+|next))?")
TARGET_HINT = (
    "role:NAME, role:NAME#N, schedule:NAME, schedule:NAME#next, person:KEY or audience:KEY"
)

_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP = (
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_MERGE = "tag:yaml.org,2002:merge"
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_STANDARD_TAGS = (_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP, _MAP, _SEQ)
_TEXT_TAGS = (_STR, _INT, _FLOAT, _TIMESTAMP)  # `tags: [2024]` means the text "2024"


def parse_duration(text: str) -> timedelta:
    """A timedelta from text like 90s, 5m, 4h, 2d or 1h30m (ValueError otherwise)."""
    match = _DURATION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"expected {DURATION_HINT}, got {text!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file: file, 1-based line, dotted field path, message."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


def join(path: str, key: str | int) -> str:
    """The field path of `key` under `path`: `a.b`, or `a[0]` for a list index."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def suggest(word: str, choices: Sequence[str]) -> str:
    """ "; did you mean 'x'?" for a close match, else "; expected one of: ..." """
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(choices)}" if choices else ""


def possessive(name: str) -> str:
    """executives -> executives', it-staff -> it-staff's."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def compose(text: str) -> Node | None:
    """The YAML node tree of `text`, with line marks (yaml.YAMLError on bad syntax)."""
    return yaml.compose(text, Loader=yaml.SafeLoader)


def is_null(node: Node | None) -> bool:
    """True for an absent value or an explicit `~` / empty value."""
    return node is None or (isinstance(node, ScalarNode) and node.tag == _NULL)


def _got(node: Node) -> str:
    if node.tag not in _STANDARD_TAGS:
        return f"a value tagged {node.tag.replace('tag:yaml.org,2002:', '!!')}"
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "nothing" if node.tag == _NULL else repr(node.value)


class Reader:
    """Reads values out of composed YAML nodes, collecting problems and warnings.

    Every reader method takes the node (None when the key is absent: the method then returns
    None quietly) and the dotted field path that problems are reported against.
    """

    def __init__(self, source: str, env: Mapping[str, str]):
        self.source = source
        self.env = env
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self._constructor = SafeConstructor()
        self._key_of: dict[int, Node] = {}  # id(value node) -> its key node

    def line(self, node: Node | None) -> int:
        """1-based line of a node; a mapping or list value is located at its key."""
        if node is None:
            return 1
        if not isinstance(node, ScalarNode):
            node = self._key_of.get(id(node), node)
        return node.start_mark.line + 1

    def problem(self, node: Node | None, field: str, message: str) -> None:
        """Record a problem at the node's line (once, however often the node is read)."""
        problem = Problem(self.source, self.line(node), field, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def warn(self, node: Node | None, field: str, message: str) -> None:
        """Record a warning (the policy still loads) at the node's line."""
        warning = str(Problem(self.source, self.line(node), field, message))
        if warning not in self.warnings:
            self.warnings.append(warning)

    def entries(self, node: Node | None, field: str) -> list[tuple[str, Node, Node]] | None:
        """(key, key node, value node) of a mapping with free keys; None if not a mapping."""
        if is_null(node):
            return []
        if not isinstance(node, MappingNode) or node.tag != _MAP:
            self.problem(node, field, f"expected a mapping of keys to values, got {_got(node)}")
            return None
        seen: dict[str, int] = {}
        out = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE:
                got = (
                    "a merge key (<<); write the keys out"
                    if key_node.tag == _MERGE
                    else _got(key_node)
                )
                self.problem(key_node, field, f"expected a plain key, got {got}")
                continue
            key = key_node.value
            if key in seen:
                self.problem(
                    key_node, join(field, key), f"duplicate key (first on line {seen[key]})"
                )
                continue
            seen[key] = key_node.start_mark.line + 1
            self._key_of[id(value_node)] = key_node
            out.append((key, key_node, value_node))
        return out

    def mapping(
        self,
        node: Node | None,
        field: str,
        allowed: Sequence[str],
        required: Iterable[str] = (),
        what: str = "key",
    ) -> dict[str, Node] | None:
        """Value nodes by key of a mapping with known keys; unknown and missing keys are problems."""
        entries = self.entries(node, field)
        if entries is None:
            return None
        out = {}
        for key, key_node, value_node in entries:
            if key in allowed:
                out[key] = value_node
            else:
                self.problem(
                    key_node, join(field, key), f"unknown {what} {key!r}{suggest(key, allowed)}"
                )
        for key in required:
            if key not in out:
                self.problem(node, join(field, key), "required but missing")
        return out

    def seq(self, node: Node | None, field: str, *, single_ok: bool = False) -> list[Node] | None:
        """Item nodes of a list; a lone scalar counts as a one-item list when single_ok."""
        if is_null(node):
            return []
        if isinstance(node, SequenceNode) and node.tag == _SEQ:
            return list(node.value)
        if single_ok and isinstance(node, ScalarNode):
            return [node]
        self.problem(node, field, f"expected a list, got {_got(node)}")
        return None

    def items(self, node: Node | None, field: str) -> list[tuple[str, Node]]:
        """(field path, node) of each item of a list, or of a lone scalar standing for one."""
        indexed = isinstance(node, SequenceNode)
        items = self.seq(node, field, single_ok=True) or []
        return [(join(field, i) if indexed else field, item) for i, item in enumerate(items)]

    def _scalar(self, node: Node, field: str, tags: tuple[str, ...], expected: str):
        if isinstance(node, ScalarNode) and node.tag in tags:
            try:
                return self._constructor.construct_object(node)
            except (ConstructorError, ValueError):
                pass
        self.problem(node, field, f"expected {expected}, got {_got(node)}")
        return None

    def string(self, node: Node | None, field: str) -> str | None:
        """Non-empty text; a plain number or date counts as its text, true/false does not."""
        if node is None:
            return None
        if not isinstance(node, ScalarNode) or node.tag not in _TEXT_TAGS:
            self.problem(node, field, f"expected text, got {_got(node)}")
            return None
        if not node.value.strip():
            self.problem(node, field, "expected text, got an empty string")
            return None
        return node.value.strip()

    def is_text(self, node: Node | None) -> bool:
        """Whether the node is a plain scalar that `string` reads as text."""
        return isinstance(node, ScalarNode) and node.tag in _TEXT_TAGS

    def strings(self, node: Node | None, field: str) -> tuple[str, ...]:
        """A list of texts; a single text is a one-item list."""
        values = (self.string(item, path) for path, item in self.items(node, field))
        return tuple(v for v in values if v is not None)

    def boolean(self, node: Node | None, field: str) -> bool | None:
        """true or false."""
        return None if node is None else self._scalar(node, field, (_BOOL,), "true or false")

    def integer(self, node: Node | None, field: str, minimum: int = 0) -> int | None:
        """A whole number of at least `minimum`."""
        if node is None:
            return None
        expected = f"a whole number of at least {minimum}"
        value = self._scalar(node, field, (_INT,), expected)
        if value is not None and value < minimum:
            self.problem(node, field, f"expected {expected}, got {value}")
            return None
        return value

    def number(self, node: Node | None, field: str) -> float | None:
        """A number, whole or decimal."""
        value = None if node is None else self._scalar(node, field, (_INT, _FLOAT), "a number")
        return None if value is None else float(value)

    def duration(self, node: Node | None, field: str, *, positive: bool = True) -> timedelta | None:
        """A duration like 5m; zero is a problem when `positive`."""
        if node is None:
            return None
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            self.problem(node, field, f"expected {DURATION_HINT}, got {_got(node)}")
            return None
        try:
            value = parse_duration(node.value)
        except ValueError as exc:
            self.problem(node, field, str(exc))
            return None
        if positive and not value:
            self.problem(node, field, f"must be longer than 0, got {node.value!r}")
            return None
        return value

    def email(self, node: Node | None, field: str) -> str | None:
        """An email address (name@domain)."""
        value = self.string(node, field)
        if value is not None and not _EMAIL_RE.fullmatch(value):
            self.problem(
                node, field, f"expected an email address like name@example.com, got {value!r}"
            )
            return None
        return value

    def emails(self, node: Node | None, field: str) -> tuple[str, ...]:
        """A list of email addresses; a single address is a one-item list."""
        values = (self.email(item, path) for path, item in self.items(node, field))
        return tuple(v for v in values if v is not None)

    def ref(self, node: Node | None, field: str, known: Sequence[str] | None, what: str):
        """Text naming one of `known` (None: the set is unreadable, so no check)."""
        value = self.string(node, field)
        if value is not None and known is not None and value not in known:
            self.problem(node, field, f"unknown {what} {value!r}{suggest(value, known)}")
            return None
        return value

    def refs(self, node: Node | None, field: str, known: Sequence[str] | None, what: str):
        """A list (or a single one) of texts naming members of `known`; the valid ones."""
        values = (self.ref(item, path, known, what) for path, item in self.items(node, field))
        return tuple(v for v in values if v is not None)

    def timezone(self, node: Node | None, field: str) -> str | None:
        """An IANA time zone name like Europe/Berlin."""
        name = self.string(node, field)
        try:
            return name and ZoneInfo(name).key
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.problem(
                node, field, f"unknown time zone {name!r}; expected a name like Europe/Berlin"
            )
            return None

    def secret(self, node: Node | None, field: str, skipped: str) -> str | None:
        """Text that may be "$env:NAME"; an unset NAME is a warning saying what is `skipped`."""
        value = self.string(node, field)
        if value is None or not value.startswith(ENV_PREFIX):
            return value
        name = value[len(ENV_PREFIX) :]
        if not _ENV_NAME_RE.fullmatch(name):
            self.problem(
                node, field, f"expected $env:NAME with NAME a variable name, got {value!r}"
            )
            return None
        resolved = self.env.get(name, "").strip()
        if not resolved:
            self.warn(node, field, f"{name} is not set; {skipped}")
        return resolved or None

    def url(self, node: Node | None, field: str, skipped: str, *, secret: bool) -> str | None:
        """An http(s) URL, maybe "$env:NAME"; a secret one is never echoed in a message."""
        value = self.secret(node, field, skipped)
        if value is None:
            return None
        from_env = node.value.strip().startswith(ENV_PREFIX)
        if not value.startswith(("https://", "http://")):
            subject = f"{node.value.strip()[len(ENV_PREFIX) :]} holds" if from_env else "got"
            shown = "something else" if secret else repr(value)
            self.problem(node, field, f"expected an http(s) URL; {subject} {shown}")
            return None
        if secret and not from_env:
            self.warn(
                node, field, "this URL is a secret; prefer $env:NAME to keep it out of the file"
            )
        return value

    def senders(self, node: Node, field: str) -> tuple[str, ...]:
        """Sender patterns: an address, a pattern like *@example.com, or * for anyone."""
        if self.seq(node, field, single_ok=True) == []:
            self.problem(node, field, 'needs at least one entry; ["*"] accepts anyone')
        senders = []
        for path, item in self.items(node, field):
            sender = self.string(item, path)
            if sender is not None and sender != "*" and "@" not in sender:
                hint = "an address or a pattern like *@example.com"
                self.problem(item, path, f"expected {hint}, got {sender!r}")
            elif sender is not None:
                senders.append(sender)
        return tuple(senders)

    def fractions(self, node: Node, field: str) -> tuple[float, ...]:
        """Rising fractions between 0 and 1, like [0.5, 0.8]."""
        fractions: list[float] = []
        for path, item in self.items(node, field):
            value = self.number(item, path)
            if value is not None and (not 0 < value < 1 or (fractions and value <= fractions[-1])):
                self.problem(
                    item, path, f"expected rising fractions between 0 and 1, got {item.value}"
                )
            elif value is not None:
                fractions.append(value)
        return tuple(fractions)

    def targets(self, node: Node | None, field: str, known: Mapping) -> tuple[str, ...]:
        """Escalation targets: role:NAME, role:NAME#N, person:KEY or audience:KEY.

        `known` maps "people", "audiences" and "roles" to what exists (None: do not check);
        known["roles"] maps each role to its roster entries as written in the file.
        """
        targets = []
        for path, item in self.items(node, field):
            text = self.string(item, path)
            match = _TARGET_RE.fullmatch(text) if text else None
            nth_ok = {
                "role": match and match[3] != "next",
                "schedule": match and match[3] in (None, "next"),
            }
            if text is not None and (match is None or (match[3] and not nth_ok.get(match[1]))):
                self.problem(item, path, f"expected {TARGET_HINT}, got {text!r}")
            elif match and match[1] == "role":
                if self._role(item, path, match[2], int(match[3] or 1), known["roles"]):
                    targets.append(text)
            elif match:
                kind, name = match[1], match[2]
                keys = known.get(
                    {"person": "people", "schedule": "schedules"}.get(kind, "audiences")
                )
                if keys is not None and name not in keys:
                    self.problem(item, path, f"unknown {kind} {name!r}{suggest(name, keys)}")
                else:
                    targets.append(text)
        return tuple(targets)

    def _role(self, node: Node, field: str, name: str, nth: int, roles: Mapping | None) -> bool:
        if name not in ROLE_NAMES:
            self.problem(node, field, f"unknown role {name!r}{suggest(name, ROLE_NAMES)}")
            return False
        if nth < 1:
            self.problem(node, field, "#N counts from 1 (role:NAME#1 is the first person on duty)")
            return False
        if name == "tech_lead" or roles is None:  # tech leads come from the affected service
            return True
        roster = roles.get(name, ())  # the entries as written, unknown people included
        if roster is None:  # the roster itself is broken and reported: nothing to count
            return True
        on_duty = len(roster)
        if nth > on_duty:
            people = "person" if on_duty == 1 else "people"
            self.problem(
                node, field, f"roles.{name} lists {on_duty} {people}, so there is no #{nth}"
            )
            return False
        return True
