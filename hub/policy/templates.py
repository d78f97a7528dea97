"""Stakeholder texts the policy may override: `<policy dir>/templates/`, checked at load.

The Communications Owner adapts the wording of what stakeholders read without a release: the
files below, beside the policy file, replace the hub's own (`templates/` in the package), in
the same layout:

    templates/email/stakeholder-update/{subject.txt,body.txt,body.html}
    templates/email/no-change-update/{subject.txt,body.txt,body.html}
    templates/teams/stakeholder-update.json.j2
    templates/teams/no-change-update.json.j2
    templates/status/update.md.j2

Any of them may be given alone (the others stay the hub's) and may `{% extends %}` or
`{% include %}` the hub's partials (`_base.html`, `_macros.j2`, …). They are rendered in a
sandbox (`ImmutableSandboxedEnvironment`: no attribute of Python internals, no changing of
data) and checked when the policy is loaded, as the policy is: a syntax error, a variable the
template does not get, an unknown filter, a card that is not JSON is a problem naming the file
and line, and the policy (with its templates) is refused; a running hub keeps its last good
one. What is rendered is the text that was checked (kept in memory at load), not whatever the
file holds later.

The environments (filters, escaping) belong to the channels, which register them here
(`register_kind`), as they register their names for `via:`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hub.policy.checks import Problem

OVERRIDABLE = ("stakeholder-update", "no-change-update")
EMAIL_PARTS = ("subject.txt", "body.txt", "body.html")
STATUS_TEMPLATE = "status/update.md.j2"
# What every stakeholder notice's template gets (hub.notifications.notices.incident_context).
STANDARD = (
    "incident", "recipient", "mention", "update", "next_update_at_local", "sla", "page",
    "policy_timezone", "hub_url", "ack_url", "intake_address", "drafts_awaiting",
)  # fmt: skip
JINJA_NAMES = {"range", "lipsum", "dict", "cycler", "joiner", "namespace", "loop", "self",
               "caller", "varargs", "kwargs", "super"}  # fmt: skip


@dataclass(frozen=True)
class Kind:
    """One kind of template: where the hub's own live, how its environment is made, what an
    entry template gets, and a context to try it with."""

    name: str  # email | teams | status
    builtin: Path
    make_env: Callable[[jinja2.BaseLoader, type], jinja2.Environment]
    variables: tuple[str, ...]
    sample: Callable[[], dict]
    is_json: bool = False


_kinds: dict[str, Kind] = {}


def register_kind(kind: Kind) -> None:
    """A channel makes its templates overridable (called when the channel is imported)."""
    _kinds[kind.name] = kind


def entries() -> dict[str, str]:
    """Every file a policy may override, relative to its templates directory -> its kind."""
    out = {}
    for name in OVERRIDABLE:
        for part in EMAIL_PARTS:
            out[f"email/{name}/{part}"] = "email"
        out[f"teams/{name}.json.j2"] = "teams"
    out[STATUS_TEMPLATE] = "status"
    return {path: kind for path, kind in out.items() if kind in _kinds}


class _Loader(jinja2.BaseLoader):
    """The checked sources first (named by their file, for tracebacks), then the hub's own."""

    def __init__(self, sources: dict[str, tuple[str, str]], fallback: Path):
        self.sources = sources  # name within the kind -> (text, file)
        self.fallback = jinja2.FileSystemLoader(str(fallback))

    def get_source(self, environment, template):
        if template in self.sources:
            text, filename = self.sources[template]
            return text, filename, lambda: True
        return self.fallback.get_source(environment, template)


@dataclass
class Overrides:
    """The checked override templates of one policy directory, by kind."""

    root: Path
    sources: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    _envs: dict[str, jinja2.Environment] = field(default_factory=dict)

    def names(self, kind: str) -> set[str]:
        """Names (within the kind) that are overridden."""
        return set(self.sources.get(kind, {}))

    def environment(self, kind: str) -> jinja2.Environment | None:
        """The sandboxed environment of a kind with overrides, else None."""
        if kind not in self.sources or kind not in _kinds:
            return None
        if kind not in self._envs:
            spec = _kinds[kind]
            loader = _Loader(self.sources[kind], spec.builtin)
            self._envs[kind] = spec.make_env(loader, ImmutableSandboxedEnvironment)
        return self._envs[kind]


def template_dir(policy_path: str | os.PathLike) -> Path | None:
    """`<policy dir>/templates`, unless it is the hub's own templates (the example policy)."""
    return _template_dir(str(policy_path), tuple(str(k.builtin) for k in _kinds.values()))


@lru_cache(maxsize=64)
def _template_dir(policy_path: str, builtins: tuple[str, ...]) -> Path | None:
    """`template_dir`, worked out once per policy path (and set of kinds): every message
    rendered asks, and the path arithmetic took 0.2 ms of a worker's ~2.5 ms of CPU a message."""
    folder = Path(policy_path).resolve().parent / "templates"
    if any(folder == Path(b).resolve().parent for b in builtins):
        return None
    return folder


def template_mtimes(policy_path: str | os.PathLike) -> tuple:
    """(file, change time) of every file under the policy's templates directory: a reload
    follows an edited template as it follows an edited policy."""
    folder = template_dir(policy_path)
    if folder is None or not folder.is_dir():
        return ()
    out = []
    for path in sorted(folder.rglob("*")):
        try:
            out.append((str(path), path.stat().st_mtime))
        except OSError:
            continue
    return tuple(out)


def read_overrides(
    policy_path: str | os.PathLike,
) -> tuple[Overrides | None, list[Problem], list[str]]:
    """(the checked overrides or None, problems, warnings) of the policy file's directory."""
    folder = template_dir(policy_path)
    if folder is None or not folder.is_dir():
        return None, [], []
    known = entries()
    found = Overrides(folder)
    problems: list[Problem] = []
    warnings: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        kind = known.get(rel)
        if kind is None:
            warnings.append(f"{path}: not a template the policy may override; ignored")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), None, "", f"cannot read the template: {exc}"))
            continue
        name = rel.split("/", 1)[1]
        found.sources.setdefault(kind, {})[name] = (text, str(path))
    for kind, sources in found.sources.items():
        for name, (_, filename) in sorted(sources.items()):
            problems += check_template(found, kind, name, filename)
    return (None if problems else found), problems, warnings


def check_template(found: Overrides, kind: str, name: str, filename: str) -> list[Problem]:
    """Problems of one override: syntax, unknown variables, then a trial render."""
    spec, env = _kinds[kind], found.environment(kind)
    text = found.sources[kind][name][0]
    try:
        tree = env.parse(text, name, filename)
        env.compile(tree, name, filename)
    except jinja2.TemplateSyntaxError as exc:
        return [Problem(filename, exc.lineno, "", f"template syntax error: {exc.message}")]
    problems = [
        Problem(filename, line, "", f"unknown variable {var!r}; {kind} templates get: "
                + ", ".join(sorted(spec.variables)))
        for var, line in unknown_names(tree, spec.variables)
    ]  # fmt: skip
    if problems:
        return problems
    try:
        out = env.get_template(name).render(spec.sample())
        if spec.is_json and not name.endswith(".txt"):
            json.loads(out)
    except jinja2.TemplateError as exc:
        return [Problem(filename, _line_of(exc, filename), "", f"template error: {exc}")]
    except json.JSONDecodeError as exc:
        return [Problem(filename, None, "", f"the card is not JSON when rendered: {exc}")]
    except Exception as exc:  # a filter refusing the sample's value, a sandbox refusal
        return [Problem(filename, _line_of(exc, filename), "", f"template error: {exc}")]
    return []


def unknown_names(tree: nodes.Template, variables) -> list[tuple[str, int]]:
    """Variables read but neither given to the template nor set in it, with their lines."""
    local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in tree.find_all((nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Import):
            local.add(node.target)
        else:
            local.update(n if isinstance(n, str) else n[1] for n in node.names)
    known = set(variables) | local | JINJA_NAMES
    seen, out = set(), []
    for n in tree.find_all(nodes.Name):
        if n.ctx == "load" and n.name not in known and n.name not in seen:
            seen.add(n.name)
            out.append((n.name, n.lineno))
    return out


def _line_of(exc: BaseException, filename: str) -> int | None:
    """The line of `filename` where the render failed (Jinja's rewritten traceback)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def sample_context(**extra) -> dict:
    """A stakeholder notice's context, to try a template with (and to preview it)."""
    incident = {
        "id": "INC-42", "title": "Payroll is down", "severity": "SEV1", "state": "mobilised",
        "major": True, "services": ["Payroll"], "reasons": ["critical service outage"],
        "summary": None, "url": "https://hub.example.com/incidents/INC-42", "bridge_url": None,
        "roles": [{"role": "communications_owner", "role_label": "Communications Owner",
                   "person": "chloe", "person_name": "Chloe Dubois", "acknowledged": True}],
        "created_at_local": "2026-03-02 10:00 CET",
    }  # fmt: skip
    return {
        "incident": incident,
        "recipient": {"name": "Stakeholders", "email": None, "may_reply": False},
        "mention": None,
        "update": {"text": "Failover started.", "author_name": "Felix", "at_local": "10:20"},
        "next_update_at_local": "10:50",
        "sla": None,
        "page": None,
        "policy_timezone": "Europe/Berlin",
        "hub_url": "https://hub.example.com",
        "ack_url": "https://hub.example.com/incidents/INC-42/acknowledge",
        "intake_address": "incidents@example.com",
        "drafts_awaiting": 0,
        **extra,
    }


# The checked overrides of each policy directory this process loaded (the last good ones).
_installed: dict[Path, Overrides | None] = {}
_lock = threading.Lock()


def install(policy_path: str | os.PathLike, overrides: Overrides | None) -> None:
    """Use these overrides for the policy file's directory from now on."""
    folder = template_dir(policy_path)
    if folder is not None:
        with _lock:
            _installed[folder] = overrides


def active(policy_path: str | os.PathLike) -> Overrides | None:
    """The overrides in use for the policy file (loaded and checked now if this process has
    not loaded that policy: a hub given its policy as an object)."""
    folder = template_dir(policy_path)
    if folder is None:
        return None
    with _lock:
        if folder in _installed:
            return _installed[folder]
    found, problems, _ = read_overrides(policy_path)
    if problems:  # not used; the policy check says why
        found = None
    install(policy_path, found)
    return found


def environment_for(settings, kind: str, template: str) -> jinja2.Environment | None:
    """The sandboxed environment to render `template` with, when the policy overrides it."""
    found = active(settings.text("HUB_POLICY"))
    if found is None:
        return None
    names = found.names(kind)
    if not any(n == template or n.startswith(f"{template}/") or n.startswith(f"{template}.")
               for n in names):  # fmt: skip
        return None
    return found.environment(kind)
