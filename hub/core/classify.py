"""Classify a report against the policy's major criteria: pure functions, `now` passed in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from hub.core.catalogue import catalogue, names_in, term_pattern
from hub.core.impact import infer_impact
from hub.core.reading import Reading, read_services, why_mentioned
from hub.core.text import clean, has_number_words, in_digits, norm
from hub.policy.model import IMPACTS, Criterion, Policy


@dataclass(frozen=True)
class Report:
    title: str
    text: str = ""
    services: tuple[str, ...] = ()  # catalogue keys or aliases as given by the reporter
    impact: str | None = None  # outage|degraded|minor, None = infer from words
    affected_users: int | None = None  # None = infer from text ("about 200 users")
    security: bool | None = None  # None = infer from policy.security_keywords
    source: str = "api"  # api|web|email|teams
    reporter: str | None = None  # person key or email
    at: datetime | None = None


class RelatedReport(NamedTuple):
    """An earlier report, for correlation (a tuple: a storm's reports number thousands)."""

    reporter: str
    services: tuple[str, ...]  # catalogue keys
    at: datetime


@dataclass(frozen=True)
class Classification:
    major: bool
    severity: str
    rule: str  # criterion name, "default" or "manual"
    reasons: tuple[str, ...]  # full sentences for the incident page and Teams
    services: tuple[str, ...]  # resolved catalogue keys
    impact: str | None
    affected_users: int | None
    security: bool
    reporters: int  # distinct reporters of these services inside the window, this one included
    mentioned: tuple[str, ...] = ()  # services named but not read as affected
    security_kind: str | None = None  # the security keyword that made it a security report


@dataclass(frozen=True)
class _Facts:
    """What a report establishes, and whether the reporter stated it or the hub inferred it."""

    services: tuple[str, ...]
    impact: str | None
    impact_stated: bool
    users: int | None
    users_stated: bool
    users_service: str | None  # the service whose catalogue users count is `users`, if any
    security: bool
    security_word: str | None  # the keyword that made it a security report, if inferred
    text: str
    mentioned: tuple[str, ...]
    reporters: Callable[[timedelta], int]


_USERS = re.compile(
    r"(?<![\w:./,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(k)?\+?\s+(?:of (?:our|the)\s+)?"
    r"(?:(?:affected|remote|internal|external|active|other|more|office|field)\s+)?"
    r"(?:users?|people|persons?|staff|employees?|colleagues?)(?!\w)",
    re.IGNORECASE,
)
_IMPACT_STATED = {"outage": "an outage", "degraded": "degraded", "minor": "minor"}
_IMPACT_INFERRED = {
    "outage": "an outage",
    "degraded": "degraded service",
    "minor": "a cosmetic problem",
}


_term = term_pattern
_clean = clean
_key = norm
_catalogue = catalogue


def resolve_services(
    names: Iterable[str], policy: Policy
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Catalogue keys for service keys or aliases (case-insensitive), and the unknown names."""
    lookup = _catalogue(policy).lookup
    keys: dict[str, None] = {}
    unknown: dict[str, str] = {}
    for name in names:
        if not name.strip():
            continue
        key = lookup.get(_key(name))
        if key:
            keys[key] = None
        else:
            unknown.setdefault(_key(name), " ".join(name.split()))
    return tuple(keys), tuple(unknown.values())


def find_services(text: str, policy: Policy) -> tuple[str, ...]:
    """Catalogue keys named in the text as whole words, the longest name where names overlap."""
    return names_in(clean(text), policy)


_WHO = ("user", "people", "person", "staff", "employee", "colleague")


def infer_affected_users(text: str, policy: Policy) -> int | None:
    """The largest number stated next to users/people/staff/employees/colleagues, if any
    (in digits or words: "about 200 users", "sixty people", "a dozen colleagues")."""
    low = text.lower()
    if not any(word in low for word in _WHO):  # no count can be stated without them
        return None
    if not any(c.isdigit() for c in text) and not has_number_words(text):
        return None
    text = in_digits(text)
    for term in _catalogue(policy).digit_terms:  # "Office 365 users" is not 365 users
        text = _term(term).sub(" ", text)
    counts = [float(m[1].replace(",", "")) * (1000 if m[2] else 1) for m in _USERS.finditer(text)]
    return max((int(n) for n in counts if n >= 1), default=None)


def infer_security(text: str, policy: Policy) -> bool:
    """Whether the text mentions one of the policy's security keywords."""
    return _security_word(text, policy) is not None


def security_keyword(text: str, policy: Policy) -> str | None:
    """The policy's security keyword the text mentions (its kind: "phishing"), if any."""
    for word in policy.security_keywords:
        if _term(word, r"(?:s|es|ed|ing)?").search(text):
            return " ".join(word.split()).lower()
    return None


def _security_word(text: str, policy: Policy) -> str | None:
    # Inflections count too: "leaked", "breached" and "hacking" are security reports.
    for word in policy.security_keywords:
        match = _term(word, r"(?:s|es|ed|ing)?").search(text)
        if match:
            return " ".join(match.group(0).split()).lower()
    return None


def count_reporters(
    report: Report,
    services: tuple[str, ...],
    related: Iterable[RelatedReport],
    window: timedelta,
    now: datetime,
) -> int:
    """Distinct reporters of any of the services within `window` before `now`, this one included."""
    if not services:
        return 1  # reports with no services never correlate
    wanted, since = set(services), now - window
    others = {
        who.strip().lower()
        for who, on, at in related
        if since <= at <= now and not wanted.isdisjoint(on)
    }
    me = (report.reporter or "").strip().lower()
    return len(others | {me}) if me else len(others) + 1


ReporterCount = Callable[[str | None, tuple[str, ...], timedelta], int]
"""(the reporter, as `reporter_identity` gives it; services; window) → the distinct reporters
of any of those services within the window before now, that one included: a count made where
the reports are kept (see `hub.incidents.reports.reporter_count`)."""


def classify_report(
    report: Report,
    policy: Policy,
    related: Iterable[RelatedReport] = (),
    *,
    now: datetime,
    reporters: ReporterCount | None = None,
) -> Classification:
    """Decide major or not and the severity: the first matching criterion, else the default.
    The reporters of the report's services are counted over `related`, or by `reporters`."""
    facts, notes = _establish(report, policy, tuple(related), now, reporters)
    criterion, held = _first_match(facts, policy)
    severity = policy.severity(criterion.severity if criterion else policy.default_severity)
    verdict = f"{severity.key}, {_major(severity.major)}"
    if criterion is None:
        head = f"No major-incident criterion matched, so the default severity is {verdict}."
    else:
        head = f"Rule {criterion.name} matched: {verdict}."
    window = (criterion and criterion.within) or policy.intake.correlation_window
    if facts.users_service and (criterion is None or criterion.affected_users_at_least is None):
        # The count is stored on the incident: say where it came from, as no rule did.
        verb = "is" if facts.users == 1 else "are"
        notes += (
            f"{_plural(facts.users, 'user')} {verb} counted as affected: "
            f"{_catalogue_users(facts)}.",
        )
    return Classification(
        major=severity.major,
        severity=severity.key,
        rule=criterion.name if criterion else "default",
        reasons=(head, *held, *notes),
        services=facts.services,
        impact=facts.impact,
        affected_users=facts.users,
        security=facts.security,
        reporters=facts.reporters(window),
        mentioned=facts.mentioned,
        security_kind=security_keyword(facts.text, policy) if facts.security_word else None,
    )


def reclassify(
    current: Classification, new_severity: str, reason: str, policy: Policy
) -> Classification:
    """A person's override of the severity, with their reason recorded first."""
    if new_severity not in policy.severities:
        known = ", ".join(policy.severities)
        raise ValueError(f"unknown severity {new_severity!r} (known: {known})")
    if not reason or not reason.strip():
        raise ValueError("a re-classification needs a reason")
    severity = policy.severity(new_severity)
    change = (
        f"Severity changed from {current.severity} (rule {current.rule}) to "
        f"{severity.key}: {_major(severity.major)}."
    )
    if severity.key == current.severity:
        change = f"Severity kept at {severity.key}: {_major(severity.major)}."
    reasons = (f"re-classified by a person: {reason.strip()}", change, *current.reasons)
    # a severity accepted as classified keeps the rule that decided it; a changed one is manual
    rule = current.rule if severity.key == current.severity else "manual"
    return replace(current, major=severity.major, severity=severity.key, rule=rule, reasons=reasons)


def _establish(
    report: Report,
    policy: Policy,
    related: tuple[RelatedReport, ...],
    now: datetime,
    counted: ReporterCount | None = None,
) -> tuple[_Facts, tuple[str, ...]]:
    """The facts of a report, and notes on how its services were read."""
    text = _clean(f"{report.title}\n{report.text}")
    given, unknown = resolve_services(report.services, policy)
    reading = read_services(report.title, report.text, policy)
    found = tuple(k for k in reading.subject if k not in given)
    impact = report.impact.strip().lower() if report.impact else None
    if impact is not None and impact not in IMPACTS:
        raise ValueError(f"unknown impact {report.impact!r} (known: {', '.join(IMPACTS)})")
    if report.affected_users is not None and report.affected_users < 0:
        raise ValueError("affected_users cannot be negative")
    word = None if report.security is not None else _security_word(text, policy)
    stated_users = report.affected_users
    users = stated_users if stated_users is not None else infer_affected_users(text, policy)
    services = given + found
    impact_now = impact or infer_impact(_without(text, reading.asides))
    users_service = None
    if users is None and impact_now == "outage":
        users_service = _most_used(services, policy)
        users = policy.services[users_service].users if users_service else None
    me = reporter_identity(report.reporter, policy)

    def reporters(window: timedelta) -> int:
        if counted is not None:
            return counted(me, services, window) if services else 1
        by_person = (
            RelatedReport(reporter_identity(r.reporter, policy) or "", r.services, r.at)
            for r in related
        )
        return count_reporters(replace(report, reporter=me), services, by_person, window, now)

    facts = _Facts(
        services=services,
        impact=impact_now,
        impact_stated=impact is not None,
        users=users,
        users_stated=stated_users is not None,
        users_service=users_service,
        security=report.security if report.security is not None else word is not None,
        security_word=word,
        text=text,
        mentioned=tuple(k for k in reading.mentioned if k not in given + found),
        reporters=reporters,
    )
    notes = []
    if found:
        notes.append(f"Recognised {_join(found, 'and')} in the report text.")
    notes += _mention_notes(reading, given + found)
    if unknown:
        notes.append(f"Unknown service names were ignored: {', '.join(unknown)}.")
    return facts, tuple(notes)


def _without(text: str, asides: tuple[str, ...]) -> str:
    """The text less the sentences about services it only mentions: what they say ("I know
    Teams is down, this is something else") is not this report's impact."""
    for aside in asides:
        text = text.replace(aside, " ")
    return text


def _mention_notes(reading: Reading, affected: tuple[str, ...]) -> list[str]:
    """One note per service only mentioned: where, and why it is not read as affected."""
    notes, seen = [], set(affected)
    for m in reading.mentions:
        if m.why_not and m.service not in seen:
            seen.add(m.service)
            notes.append(
                f'"{m.term}" ({m.service}) is mentioned but not read as affected: '
                f"{why_mentioned(m.why_not)}."
            )
    return notes


def _most_used(services: tuple[str, ...], policy: Policy) -> str | None:
    """The service with the most users in the catalogue, of those that give a count.

    A report that services are down affects all their users (the policy's `users`). When
    several are down, the largest count is taken, not the sum: mostly the same people use
    several services, so adding them up would count most people more than once.
    """
    counted = [s for s in services if (policy.services[s].users or 0) > 0]
    return max(counted, key=lambda s: policy.services[s].users or 0, default=None)


def _catalogue_users(f: _Facts) -> str:
    """Where a catalogue users count came from, e.g. "the users of email, which is down"."""
    if len(f.services) == 1:
        return f"the users of {f.users_service}, which is down"
    down = _join(f.services, "and")
    return f"the users of {f.users_service}, the most used of {down}, which are down"


def reporter_identity(reporter: str | None, policy: Policy) -> str | None:
    """The person key for an email or Teams UPN of a known person, so both count once."""
    if reporter and "@" in reporter:
        person = policy.person_by_email(reporter)
        return person.key if person else reporter
    return reporter


def _first_match(f: _Facts, policy: Policy) -> tuple[Criterion | None, tuple[str, ...]]:
    """The first criterion whose conditions all hold, with a reason for each; else (None, ())."""
    for criterion in policy.major_criteria:
        held = _match(criterion, f, policy)
        if held is not None:
            return criterion, held
    return None, ()


def _match(c: Criterion, f: _Facts, policy: Policy) -> tuple[str, ...] | None:
    """The reasons for each condition that held, or None if any condition failed."""
    reasons = []
    for check in (_if_security, _if_scope, _if_users, _if_reporters, _if_services, _if_keywords):
        reason = check(c, f, policy)
        if reason is None:
            return None
        if reason:  # "" = the criterion does not set this condition
            reasons.append(reason)
    return tuple(reasons)


def _if_security(c: Criterion, f: _Facts, policy: Policy) -> str | None:
    if c.security is None:
        return ""
    if f.security != c.security:
        return None
    if not f.security:
        return "It is not a security incident."
    if f.security_word:
        return f'The report mentions "{f.security_word}", a security keyword.'
    return "The reporter flagged it as a security incident."


def _if_scope(c: Criterion, f: _Facts, policy: Policy) -> str | None:
    critical = [s for s in f.services if policy.services[s].critical]
    if c.critical_service is not None and bool(critical) != c.critical_service:
        return None
    if c.impact and f.impact not in c.impact:
        return None
    if c.critical_service:
        verb, noun = (
            ("is", "a critical service") if len(critical) == 1 else ("are", "critical services")
        )
        subject = f"{_join(critical, 'and')} {verb} {noun}"
        return f"{subject} and {_impact_clause(f, verb)}." if c.impact else f"{subject}."
    parts = ["no critical service is affected"] if c.critical_service is False else []
    parts += [_impact_clause(f, "it is")] if c.impact else []
    sentence = " and ".join(parts)
    return f"{sentence[:1].upper()}{sentence[1:]}." if sentence else ""


def _impact_clause(f: _Facts, subject: str) -> str:
    if f.impact_stated:
        return f"{subject} reported as {_IMPACT_STATED[f.impact]}"
    return f"the report describes {_IMPACT_INFERRED[f.impact]}"


def _if_users(c: Criterion, f: _Facts, policy: Policy) -> str | None:
    if c.affected_users_at_least is None:
        return ""
    if f.users is None or f.users < c.affected_users_at_least:
        return None
    threshold = f"(threshold {c.affected_users_at_least:,})"
    verb = "is" if f.users == 1 else "are"
    if f.users_stated:
        return f"{_plural(f.users, 'user')} {verb} affected, as stated by the reporter {threshold}."
    if f.users_service:
        return f"{_plural(f.users, 'user')} {verb} affected: {_catalogue_users(f)} {threshold}."
    return f"The report text mentions {_plural(f.users, 'affected user')} {threshold}."


def _if_reporters(c: Criterion, f: _Facts, policy: Policy) -> str | None:
    if c.reporters_at_least is None:
        return ""
    window = c.within or policy.intake.correlation_window
    count = f.reporters(window)
    if count < c.reporters_at_least:
        return None
    who = "1 person" if count == 1 else f"{count:,} people"
    return (
        f"{who} reported {_join(f.services, 'or')} within {_describe(window)} "
        f"(threshold {c.reporters_at_least})."
    )


def _if_services(c: Criterion, f: _Facts, policy: Policy) -> str | None:
    if not c.services:
        return ""
    hit = [s for s in f.services if s in c.services]
    return f"The report concerns {_join(hit, 'and')}, named by this rule." if hit else None


def _if_keywords(c: Criterion, f: _Facts, policy: Policy) -> str | None:
    if not c.keywords:
        return ""
    hit = [f'"{k}"' for k in c.keywords if _term(k).search(f.text)]
    kind = "a keyword" if len(hit) == 1 else "keywords"
    return f"The report mentions {_join(hit, 'and')}, {kind} of this rule." if hit else None


def _major(major: bool) -> str:
    return "a major incident" if major else "not a major incident"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _join(items: Iterable[str], word: str) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _describe(window: timedelta) -> str:
    seconds, parts = int(window.total_seconds()), []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(_plural(n, unit))
    return " ".join(parts) or "0 seconds"
