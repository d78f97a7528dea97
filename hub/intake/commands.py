"""Commands from people, whatever the channel: one `Command`, its two syntaxes, and running it.

A chat message (Teams) is a verb, an incident id and the rest (`parse_chat`); an email reply to
an incident's thread is a first line `ACK`, `UPDATE: …`, `RESOLVED: …` or `NOT THIS`
(`parse_reply`). `run_command` runs an ack, update, resolve or split on its incident through `hub.incidents.act`; each
channel words the answer itself.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from hub.app.errors import HubError
from hub.app.models import Incident, UpdateDraft
from hub.incidents import operations as ops
from hub.incidents.act import act
from hub.incidents.drafts import submit_update
from hub.incidents.split import own_report, split_report
from hub.incidents.tasks import tick_task
from hub.policy.model import Policy

# name -> (usage, what it does); the order is the order of the help card and the app manifest
USAGE = {
    "help": ("help", "Show what I understand"),
    "report": ("report <what is wrong>", "Report a problem; it is classified like an email report"),
    "declare": (
        "declare <title> [sev1|sev2…] [service <name>] [users <N>]",
        "Declare a major incident",
    ),
    "status": ("status [INC-42]", "The active incidents, or one incident"),
    "ack": ("ack INC-42", "Acknowledge the roles you hold, so the escalation stops"),
    "update": ("update INC-42 <text>", "Post a stakeholder update"),
    "assign": ("assign INC-42 <role> @person", "Give a role to someone"),
    "resolve": ("resolve INC-42 <summary>", "Resolve, saying what fixed it"),
    "split": ("split INC-42 <report> [why]", "Split a joined report out into its own incident"),
    "notthis": ("not this INC-42", "Your report that joined INC-42 is another problem: split it"),
    "done": ("done INC-42 <task number> [note]", "Tick a task of your role's checklist"),
    "subscribe": ("subscribe INC-42 | <service>", "Get an incident's or a service's updates"),
    "oncall": ("oncall [schedule]", "Who is on call now and next"),
    "unsubscribe": ("unsubscribe INC-42 | <service>", "Stop getting those updates"),
}
ALIASES = {
    "?": "help", "acknowledge": "ack", "show": "status", "follow": "subscribe", "on-call": "oncall",
    "who": "oncall",
}  # fmt: skip
ROLES = {  # spoken names of each role, lower case, words separated by one space
    "major_incident_manager": ("major incident manager", "incident manager", "mim", "manager"),
    "tech_lead": ("technical lead", "tech lead", "techlead", "tl", "lead"),
    "communications_owner": ("communications owner", "comms owner", "communications", "comms"),
    "problem_manager": ("problem manager", "problem", "pm"),
}
SMALL_TALK = {"hi", "hello", "hey", "thanks", "thank you", "ok", "okay", "test", "ping"}
MAX_TEXT = 20_000  # characters after cleaning; a longer message is refused, not cut

_REF = re.compile(r"^(?:#|inc-?)?(\d{1,9})[.,:;]?$", re.IGNORECASE)
_EXPLICIT_REF = re.compile(r"^(?:#|inc-?)\d", re.IGNORECASE)  # "escalate INC-4": a command
_SEV = re.compile(r"^sev\d{1,2}$", re.IGNORECASE)
_TOKEN = re.compile(r'"[^"]*",?|\S+')
_WORD = re.compile(r"\s*(\S+)\s*(.*)", re.DOTALL)
_ACK = re.compile(r"^(?:ACK|ACKNOWLEDGED?)[.!]?$", re.IGNORECASE)  # an email reply's first line
_REPLY = re.compile(r"^(UPDATE|RESOLVED)\s*:\s*(.*)$", re.IGNORECASE)
_NOT_THIS = re.compile(r"^not[ -]?this\b[.!:,]?\s*(.*)$", re.IGNORECASE | re.DOTALL)
_NOT_THIS_LINE = re.compile(r"^not[ -]?this[.!]?$", re.IGNORECASE)  # an email reply's first line


@dataclass(frozen=True)
class Command:
    """What a message asks for; `error` is a usage problem to answer with."""

    name: str  # a key of USAGE, or "unknown"
    ref: str | None = None  # INC-42
    text: str = ""  # report text, update text, resolve summary, declare title
    severity: str | None = None
    services: tuple[str, ...] = ()
    users: int | None = None
    role: str | None = None
    report: int | None = None  # a report's id (split)
    person: str | None = None  # as written: a name, key, email or @mention
    mentions: tuple[str, ...] = ()  # names of the people @mentioned (bot mentions excluded)
    task: int | None = None  # done INC-42 3: the task's number
    error: str | None = None


def parse_ref(token: str) -> str | None:
    """`INC-42`, `inc42`, `#42` or `42` as `INC-42`; None if it is not an incident id."""
    match = _REF.match(token.strip())
    return f"INC-{int(match.group(1))}" if match else None


def parse_chat(
    body: str,
    *,
    mentions: tuple[str, ...] = (),
    severities: Collection[str] = (),
    services: Collection[str] = (),
) -> Command:
    """The command a chat message asks for: `ack INC-42`, `update INC-42 <text>`, …

    `body` is plain text (the channel has removed its markup and the bot's mentions);
    `mentions` the names of the other people it @mentions. `severities` are the policy's keys;
    `services` the lower-case keys and aliases of the catalogue (`service X` in a declare is an
    option only for a known X; empty: any X).
    """
    if len(body) > MAX_TEXT:
        return Command(
            "unknown",
            mentions=mentions,
            error=(f"That message is {len(body):,} characters long; I take at most {MAX_TEXT:,}."),
        )
    if not body:
        return Command("help")
    not_this = _NOT_THIS.match(body)
    if not_this:
        first, tail = _split(not_this.group(1))
        ref = parse_ref(first) if first else None
        error = None if ref else _usage("notthis")
        return Command("notthis", ref=ref, text=tail, mentions=mentions, error=error)
    word, rest = _split(body)
    name = ALIASES.get(word.lower().rstrip(":,"), word.lower().rstrip(":,"))
    if name not in USAGE:
        tokens = body.split()
        if (
            word.startswith(("/", "!"))
            or len(tokens) < 2
            or body.lower() in SMALL_TALK
            or _EXPLICIT_REF.match(tokens[1])
        ):
            return Command("unknown", text=body, mentions=mentions)
        return Command("report", text=body, mentions=mentions)
    if name == "help":
        return Command("help")
    if name == "report":
        return Command(
            "report", text=rest, mentions=mentions, error=None if rest else _usage("report")
        )
    if name == "declare":
        return _declare(rest, mentions, severities, services)
    first, tail = _split(rest)
    if name == "oncall":
        return Command("oncall", text=first.lower())
    ref = parse_ref(first) if first else None
    if name in ("subscribe", "unsubscribe") and ref is None and rest:
        return Command(name, text=rest, mentions=mentions)  # a service, by name or alias
    if name == "status":
        if rest and ref is None:
            return Command("status", error=f"{first!r} is not an incident id. {_usage('status')}")
        return Command("status", ref=ref)
    if ref is None:
        return Command(name, mentions=mentions, error=_usage(name))
    if name in ("update", "resolve") and not tail:
        return Command(name, ref=ref, error=_usage(name))
    if name == "assign":
        return _assign(ref, tail, mentions)
    if name == "split":
        number, why = _split(tail)
        report = number.lstrip("#")
        if not report.isdigit() or len(report) > 9:
            return Command(name, ref=ref, error=f"Say which report. {_usage('split')}")
        return Command(name, ref=ref, report=int(report), text=why, mentions=mentions)
    if name == "done":
        number, note = _split(tail)
        if not number.isdigit() or len(number) > 6:
            return Command(name, ref=ref, error=f"Say which task, by its number. {_usage(name)}")
        return Command(name, ref=ref, task=int(number), text=note, mentions=mentions)
    return Command(name, ref=ref, text=tail, mentions=mentions)


def parse_reply(text: str, ref: str) -> Command | None:
    """The command of an email reply to the thread of incident `ref`, by its first line: `ACK`,
    `UPDATE: <text>`, `RESOLVED: <summary>` (the text goes on in the lines below) or `NOT THIS`
    (the sender's joined report is another problem); None for any other reply, a comment."""
    lines = text.strip().splitlines()
    first = lines[0].strip() if lines else ""
    if _ACK.match(first):
        return Command("ack", ref=ref)
    if _NOT_THIS_LINE.match(first):  # "Not this again, please" is a comment
        return Command("notthis", ref=ref, text="\n".join(lines[1:]).strip())
    match = _REPLY.match(first)
    if not match:
        return None
    rest = "\n".join(lines[1:]).strip()
    said = "\n".join(t for t in (match.group(2).strip(), rest) if t)
    return Command(
        "update" if match.group(1).upper() == "UPDATE" else "resolve", ref=ref, text=said
    )


def _split(text: str) -> tuple[str, str]:
    """The first word and the rest (newlines in the rest kept)."""
    match = _WORD.match(text)
    return (match.group(1), match.group(2).strip()) if match else ("", "")


def _usage(name: str) -> str:
    return f"Usage: {USAGE[name][0]}"


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


def parse_role(words: list[str]) -> tuple[str | None, int]:
    """The role the first one to three words name, and how many words it took."""
    for size in (3, 2, 1):
        if len(words) < size:
            continue
        spoken = _norm(" ".join(words[:size]))
        for role, names in ROLES.items():
            if spoken in names or spoken == _norm(role):
                return role, size
    return None, 0


def _assign(ref: str, tail: str, mentions: tuple[str, ...]) -> Command:
    words = tail.split()
    role, used = parse_role(words)
    if role is None:
        what = f"{words[0]!r} is not a role" if words else "Say which role"
        return Command(
            "assign",
            ref=ref,
            error=(f"{what}; roles are mim, tech lead, comms, problem manager. {_usage('assign')}"),
        )
    person = " ".join(words[used:]).strip().lstrip("@").rstrip(".,;:!").strip()
    if not person:
        return Command("assign", ref=ref, role=role, error=f"Say who. {_usage('assign')}")
    return Command("assign", ref=ref, role=role, person=person, mentions=mentions)


def _declare(
    rest: str, mentions: tuple[str, ...], severities: Collection[str], services: Collection[str]
) -> Command:
    tokens = _TOKEN.findall(rest)
    known_sev = {s.lower(): s for s in severities}
    known_svc = {_norm(s) for s in services}
    title: list[str] = []
    severity, users, named, i = None, None, [], 0
    while i < len(tokens):
        low = tokens[i].lower().strip(",")
        if severity is None and (low in known_sev or (not known_sev and _SEV.match(low))):
            severity, i = known_sev.get(low, low.upper()), i + 1
            continue
        if severity is None and _SEV.match(low):
            return Command(
                "declare",
                error=f"Unknown severity {low.upper()}; the policy has {', '.join(severities)}.",
            )
        number = tokens[i + 1].replace(",", "") if i + 1 < len(tokens) else ""
        if low in ("users", "user") and number.isdigit() and len(number) <= 9:
            users, i = int(number), i + 2
            continue
        if low in ("service", "services"):
            taken, j = _take_services(tokens, i + 1, known_svc)
            if taken:
                named, i = named + taken, j
                continue
            wrong = _unknown_service(tokens[i + 1 : i + 2], known_svc)
            if wrong:
                return Command("declare", error=wrong)
        title.append(tokens[i])
        i += 1
    if not title:
        return Command("declare", error=f"A declaration needs a title. {_usage('declare')}")
    return Command(
        "declare",
        text=" ".join(title),
        severity=severity,
        services=tuple(named),
        users=users,
        mentions=mentions,
    )


def _unknown_service(tokens: list[str], known: set[str]) -> str | None:
    """ "Unknown service 'payrol'; did you mean 'payroll'?" for a name the catalogue lacks."""
    if not tokens or not known:
        return None
    name = tokens[0].strip('",')
    close = difflib.get_close_matches(_norm(name), sorted(known), n=1, cutoff=0.75)
    if not close:
        return None  # an ordinary word of the title ("service desk")
    return f"Unknown service {name!r}; did you mean {close[0]!r}? {_usage('declare')}"


def _take_services(tokens: list[str], i: int, known: set[str]) -> tuple[list[str], int]:
    """Service names from position i: quoted, or known names of up to three words, comma-joined."""
    taken: list[str] = []
    while i < len(tokens):
        quoted = tokens[i].rstrip(",")
        if quoted.startswith('"') and quoted.endswith('"') and len(quoted) > 1:
            name, size = quoted[1:-1].strip(), 1
        else:
            name, size = "", 0
            for n in (3, 2, 1):
                words = " ".join(tokens[i : i + n]).rstrip(",")
                if len(tokens) - i >= n and (_norm(words) in known or (not known and n == 1)):
                    name, size = words, n
                    break
        if not name:
            break
        taken.append(name)
        i += size
        if not tokens[i - 1].endswith(",") or i >= len(tokens):
            break
    return taken, i


# the commands `run_command` takes, by the `act()` action each one is
ACTIONS = {
    "ack": "acknowledge",
    "update": "update",
    "resolve": "resolve",
    "split": "split",
    "notthis": "not_this",
    "done": "task",
}


@dataclass(frozen=True)
class Done:
    """What a command did: its incident, and for an ack the roles acknowledged (none: already)."""

    incident: Incident
    roles: tuple[str, ...] = ()
    new: Incident | None = None  # a split's new incident
    draft: UpdateDraft | None = None  # an update kept for approval (hub/incidents/drafts.py)


def run_command(
    session: Session,
    policy: Policy,
    command: Command,
    actor: str,
    now: datetime,
    *,
    refusal: Callable[[Incident], HubError | None] | None = None,
    savepoint: bool = True,
) -> Done:
    """Run an ack, update, resolve, split or task tick (`ACTIONS`) on the command's incident as `actor`, through
    `act` (`refusal`: the channel's words when the actor may not). A HubError says why it was not
    done; an operation refused half-way leaves nothing behind: it runs in a savepoint, or with
    `savepoint=False` in the caller's own, which the caller rolls back on a HubError (Teams'
    `handlers.run`: one savepoint per message, not two)."""

    def run(incident: Incident) -> Done:
        if command.name == "ack":
            roles = ops.acknowledge(session, policy, incident, actor=actor, now=now)
            return Done(incident, tuple(roles))
        if command.name in ("split", "notthis"):
            if command.name == "split":
                report, why = command.report, command.text
            else:
                report = own_report(incident, actor).id
                why = command.text or "the reporter says it is a different problem"
            new = split_report(session, policy, incident, report, why, actor=actor, now=now)
            return Done(incident, new=new)
        if command.name == "done":
            tick_task(
                session, policy, incident, command.task, note=command.text, actor=actor, now=now
            )
            return Done(incident)
        if command.name == "update":
            done = submit_update(
                session, policy, incident, {"text": command.text}, actor=actor, now=now
            )
            return Done(incident, draft=done if isinstance(done, UpdateDraft) else None)
        else:
            ops.resolve(session, policy, incident, command.text, actor=actor, now=now)
        return Done(incident)

    def operation(incident: Incident) -> Done:
        if not savepoint:
            return run(incident)
        with session.begin_nested():
            return run(incident)

    return act(
        session,
        policy,
        command.ref,
        actor,
        ACTIONS[command.name],
        operation,
        now=now,
        refusal=refusal,
    )
