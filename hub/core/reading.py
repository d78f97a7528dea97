"""How a report's words name services: whole words, the longest name, subject or mention.

Pure. A report is *about* the services named in its subject (the title, then the first
sentences of the text); a service named elsewhere, or only as the medium or the background
of the report ("I got a mail that …", "Outlook works fine", "not Teams", "phishing email"),
is *mentioned*: it is noted, never read as affected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from hub.policy.model import Policy

SUBJECT_SENTENCES = 2  # the body's first sentences that count as the subject, after the title


@dataclass(frozen=True)
class Mention:
    """One place a service's key or alias is named."""

    service: str
    term: str  # the words as written in the report
    where: str  # "title" or "text"
    why_not: str | None  # why it is only a mention; None: the report is about it


@dataclass(frozen=True)
class Reading:
    subject: tuple[str, ...]  # catalogue keys the report is about
    mentioned: tuple[str, ...]  # catalogue keys only mentioned
    mentions: tuple[Mention, ...]


@lru_cache(maxsize=1024)
def term_pattern(term: str, suffix: str = "") -> re.Pattern[str]:
    """A key, alias or keyword as whole words (spacing free, case-insensitive)."""
    words = r"\s+".join(re.escape(w) for w in term.split())
    return re.compile(rf"(?<!\w){words}{suffix}(?!\w)", re.IGNORECASE)


def clean(text: str) -> str:
    """Typographic apostrophes from Outlook and Teams as plain ones."""
    return text.replace("\u2019", "'")


def norm(name: str) -> str:
    """A service name as looked up: spacing collapsed, lower case."""
    return " ".join(name.split()).lower()


@dataclass(frozen=True)
class Catalogue:
    lookup: dict[str, str]  # service key or alias, normalised, to catalogue key
    any_term: re.Pattern[str] | None  # every key and alias, longest first (None: no terms)


_CATALOGUES: dict[int, tuple[Policy, Catalogue]] = {}


def catalogue(policy: Policy) -> Catalogue:
    """The policy's service lookups, made once per policy object (policies are immutable)."""
    known = _CATALOGUES.get(id(policy))
    if known is not None and known[0] is policy:
        return known[1]
    lookup: dict[str, str] = {}
    for key, service in policy.services.items():
        for term in (key, *service.aliases):
            lookup.setdefault(norm(term), key)
    # longest first: where names overlap ("hr portal", "portal") the longer one is taken
    terms = sorted((t for t in lookup if t), key=lambda t: (-len(t), t))
    any_term = (
        re.compile(
            r"(?<![\w@])(?:"
            + "|".join(r"\s+".join(map(re.escape, t.split())) for t in terms)
            + r")(?:'s|s)?(?![\w@]|[.]\w)",
            re.IGNORECASE,
        )
        if terms
        else None
    )
    if len(_CATALOGUES) > 8:  # policies are few: the current one and a reload or two
        _CATALOGUES.clear()
    found = Catalogue(lookup, any_term)
    _CATALOGUES[id(policy)] = (policy, found)
    return found


_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*original message\s*-{2,}|on .{3,200} wrote:|from:\s.+|_{10,})\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*[-*•])")
# a name just before which makes it a medium, an exception or the background
_BEFORE = re.compile(
    r"(?:\b(?:got|received?|sent|forwarded?)\s+(?:a|an|the|this|that|some)\s+"
    r"|\b(?:via|over|per)\s+(?:(?:a|an|the)\s+)?"
    r"|\b(?:not|except(?:\s+for)?|besides|apart\s+from|other\s+than|unlike|but\s+not)\s+"
    r"(?:(?:the|my|our)\s+)?"
    r"|\b(?:phishing|spam|suspicious|fake|scam|fraudulent|spoofed|malicious)\s+)$",
    re.IGNORECASE,
)
_AFTER_MEDIUM = re.compile(
    r"^\s+(?:that|saying|says|said|stating|telling|asking|about|(?:from|by)\s+\S+"
    r"(?:\s+\S+)?\s+(?:that|saying|about))\b",
    re.IGNORECASE,
)
_AFTER_FINE = re.compile(
    r"^(?:\s+(?:itself|app|client|access|itself))?\s+(?:is|are|seems?(?:\s+to\s+be)?|looks?|"
    r"was|still)?\s*(?:fine|ok|okay|unaffected|not\s+affected|working(?:\s+(?:fine|normally"
    r"|ok))?|works(?:\s+(?:fine|normally|ok))?|up|normal|good)"
    r"(?=\s*(?:[,.;:!)]|$|\s+(?:but|and|so|though|however|for|which|now)\b))",
    re.IGNORECASE,
)
_WHY = {
    "medium": "named as the way the news came, not as affected",
    "fine": "said to work",
    "not": "named as an exception",
    "security": "named as the carrier of a security threat",
    "later": "named outside the report's subject",
}


def strip_quoted(text: str) -> str:
    """The text without quoted replies (`> …` lines, an earlier message below a header)."""
    match = _QUOTE_START.search(text)
    if match:
        text = text[: match.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def read_services(title: str, text: str, policy: Policy) -> Reading:
    """Which services the report is about, and which it only mentions."""
    any_term = catalogue(policy).any_term
    title, text = clean(title), clean(text)
    if any_term is None or not (any_term.search(title) or any_term.search(text)):
        return Reading((), (), ())  # most reports name no service (one scan, the fast path)
    body = strip_quoted(text)
    parts = [s for s in _SENTENCE_END.split(body.strip()) if s.strip()]
    head = "\n".join(parts[:SUBJECT_SENTENCES])
    tail = "\n".join(parts[SUBJECT_SENTENCES:])
    lookup = catalogue(policy).lookup
    mentions: list[Mention] = []
    # the title first; the first sentences when it names nothing; the rest when they don't
    for part, where in ((title, "title"), (head, "text"), (tail, "text")):
        found = _scan(part, where, any_term, lookup)
        if any(m.why_not is None for m in mentions):
            found = [
                m if m.why_not else Mention(m.service, m.term, m.where, "later") for m in found
            ]
        mentions += found
    order = {key: i for i, key in enumerate(policy.services)}  # the catalogue's order
    subject = _unique(sorted((m.service for m in mentions if m.why_not is None), key=order.get))
    mentioned = _unique(
        sorted((m.service for m in mentions if m.service not in subject), key=order.get)
    )
    return Reading(subject, mentioned, tuple(mentions))


def _scan(text: str, where: str, any_term: re.Pattern[str], lookup: dict[str, str]):
    out = []
    for match in any_term.finditer(text):
        written = match.group(0)
        key = lookup.get(norm(written)) or lookup.get(norm(re.sub(r"(?:'s|s)$", "", written)))
        if key is None:
            continue
        before = text[max(0, match.start() - 40) : match.start()]
        after = text[match.end() : match.end() + 60]
        out.append(Mention(key, written, where, _weak(before, after)))
    return out


def _weak(before: str, after: str) -> str | None:
    found = _BEFORE.search(before)
    if found:
        said = found.group(0).lower()
        if said.split()[0] in ("phishing", "spam", "suspicious", "fake", "scam", "fraudulent"):
            return "security"
        if said.split()[0] in ("spoofed", "malicious"):
            return "security"
        if said.split()[0] in ("not", "except", "besides", "apart", "other", "unlike", "but"):
            return "not"
        return "medium"
    if _AFTER_MEDIUM.match(after):
        return "medium"
    if _AFTER_FINE.match(after):
        return "fine"
    return None


def why_mentioned(reason: str) -> str:
    """The words for a mention's reason."""
    return _WHY.get(reason, reason)


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
