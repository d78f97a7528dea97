"""How a report's words name services: whole words, the longest name, subject or mention.

Pure. A report is *about* the services named in its subject (the title, then the first
sentences of the text, then the rest); a service named elsewhere, or only as the medium or
the background of the report ("I got a mail that …", "Outlook works fine", "not Teams",
"phishing email", "can I use Teams instead?"), is *mentioned*: noted, never read as affected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.core.catalogue import Catalogue, catalogue
from hub.core.impact import has_impact
from hub.core.text import clean, norm, own_words
from hub.policy.model import Policy

SUBJECT_SENTENCES = 2  # the body's first sentences that count as the subject, after the title
# Aliases that are everyday words: next to another service's own name in a sentence they
# say what part of it is meant ("Workday login", "SAP orders"), not another service.
COMMON_WORDS = frozenset(
    [
        "access",
        "account",
        "accounts",
        "app",
        "apps",
        "billing",
        "calendar",
        "chat",
        "check",
        "desk",
        "email",
        "exchange",
        "files",
        "finance",
        "help",
        "home",
        "homepage",
        "hr",
        "invoicing",
        "login",
        "logon",
        "mail",
        "mailbox",
        "network",
        "office",
        "orders",
        "pay",
        "phone",
        "portal",
        "print",
        "printer",
        "remote",
        "sales",
        "salary",
        "scanner",
        "scanners",
        "service",
        "shop",
        "site",
        "sso",
        "store",
        "team",
        "teams",
        "tickets",
        "tracking",
        "time",
        "travel",
        "warehouse",
        "web",
        "website",
        "wifi",
    ]
)


@dataclass(frozen=True)
class Mention:
    """One place a service's key or alias is named."""

    service: str
    term: str  # the words as written in the report
    where: str  # "title" or "text"
    why_not: str | None  # why it is only a mention; None: the report is about it
    relayed: bool = False  # in what someone else said or asked ("a customer says …")


@dataclass(frozen=True)
class Reading:
    subject: tuple[str, ...]  # catalogue keys the report is about
    mentioned: tuple[str, ...]  # catalogue keys only mentioned
    mentions: tuple[Mention, ...]
    asides: tuple[str, ...] = ()  # sentences naming only services the report is not about


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*[-*•])")
_WORD = re.compile(r"[A-Za-z]{6,}")
_DET = r"(?:a|an|the|this|that|some|his|her|my|our|their)"
# a name just before which makes it an exception or the carrier of a threat
_BEFORE = re.compile(
    r"(?:\b(?:via|over|per|by)\s+(?:(?:a|an|the)\s+)?"
    r"|\b(?:not|except(?:\s+for)?|besides|apart\s+from|other\s+than|unlike|but\s+not)\s+"
    r"(?:(?:the|my|our)\s+)?"
    r"|\b(?P<threat>phishing|spam|suspicious|fake|scam|fraudulent|spoofed|malicious)\s+)$",
    re.IGNORECASE,
)
_RECEIVED = re.compile(  # "got a strange invoice email with …": a message received
    rf"\b(?:got|get|received?|sent|forwarded?|had)\s+(?:also\s+)?{_DET}\s+(?:[\w-]+\s+){{0,2}}$",
    re.IGNORECASE,
)
_AFTER_MESSAGE = re.compile(
    r"^(?:\s+(?:with|from|saying|that|about|asking|telling|pretending|claiming|purporting"
    r"|requesting|containing)\b|\s*(?:[,.;:]|$))",
    re.IGNORECASE,
)
_AFTER_MEDIUM = re.compile(
    r"^\s+(?:that|saying|stating|telling|asking|instead|(?:from|by)\s+\S+"
    r"(?:\s+\S+)?\s+(?:that|saying|about))\b",
    re.IGNORECASE,
)
_AFTER_FINE = re.compile(
    r"^(?:\s+(?:itself|app|client|access))?\s+(?:is|are|seems?(?:\s+to\s+be)?|looks?|was"
    r"|still)?\s*(?:fine|ok|okay|unaffected|not\s+affected|working(?:\s+(?:fine|normally"
    r"|ok))?|works(?:\s+(?:fine|normally|ok))?|up|normal|good)"
    r"(?=\s*(?:[,.;:!)]|$|\s+(?:but|and|so|though|however|for|which|now|other|to\s+me)\b))",
    re.IGNORECASE,
)
# everyday words of aliases in phrases that mean something else
_OTHER_MEANING_PHRASE = re.compile(
    r"(?<!\w)(?:(?:foreign|currency|stock|student)\s+exchange|exchange\s+(?:rates?|students?"
    r"|programmes?|programs?|offices?)|in\s+exchange(?:\s+for)?|data\s+warehouses?"
    r"|time\s+tracking|(?:voice|snail)\s+mail|mail\s+(?:room|merge)s?)(?!\w)",
    re.IGNORECASE,
)
# an alias that is also the word for one message: "an email from HR", "your incident email"
_MESSAGE_WORDS = frozenset(["email", "e-mail", "mail", "message"])
_ONE_MESSAGE = re.compile(
    r"(?:\b(?:an?|another|your)\s+(?:[\w-]+\s+){0,2}|\bthis\s+)$", re.IGNORECASE
)
_AFTER_ONE_MESSAGE = re.compile(
    r"^(?:\s+(?:with|from|saying|that|about|asking|telling|this|today|yesterday|earlier|last"
    r"|just|again|arrived|came|went|looks?)\b|\s*(?:[,.;:?!)]|$))",
    re.IGNORECASE,
)
# someone else's words: "a supplier said our portal is down", "asked whether the homepage …"
_RELAYED = re.compile(
    r"\b(?:says?|said|saying|claims?|claimed|claiming|asked|asks|asking|wonder(?:s|ed|ing)?"
    r"|told\s+(?:me|us)|tells\s+(?:me|us)|wrote|writes|phoned\s+to\s+say)\b",
    re.IGNORECASE,
)
# "it works fine for me", "it looks normal to me": the reporter's own check
_IT_FINE = re.compile(r"(?<!\w)it(?:'s)?(?!\w)", re.IGNORECASE)
# the reporter says a named service is another matter than the report
_ANOTHER_MATTER = re.compile(
    r"\b(?:unrelated|not related|another (?:story|issue|problem|thing|matter)|(?:a )?(?:different"
    r"|separate) (?:thing|issue|problem|matter|story)|something else)\b",
    re.IGNORECASE,
)
# the reporter's own devices: "my headset doesn't work in Teams calls" is about the headset
_DEVICE = re.compile(
    r"(?<!\w)(?:laptops?|notebooks?|pcs?|computers?|workstations?|headsets?|headphones"
    r"|earbuds|earphones|microphones?|mics?|webcams?|cameras?|monitors?|keyboards?|mouse|mice"
    r"|docking stations?|chargers?|printers?|phones?|iphones?|tablets?|ipads?)(?!\w)",
    re.IGNORECASE,
)
_IN_USE = re.compile(r"\b(?:in|during|on|with|via|using)\s+(?:(?:my|the|a|an|our|all)\s+)?$", re.I)
_COORDINATED = re.compile(r"\b(?:and|or|nor|plus|both|also|too|as well)\b|&|/", re.IGNORECASE)
_WHY = {
    "medium": "named as the way the news came, not as affected",
    "fine": "said to work",
    "not": "named as an exception",
    "security": "named as the carrier of a security threat",
    "later": "named after the subject already said what the report is about",
    "part": "an everyday word naming a part of another service named beside it",
    "background": "named in a sentence that says nothing is wrong with it",
    "contradicted": "said to be down by someone else, and to work by the reporter",
    "aside": "named in an aside the reporter says is another matter",
    "device": "named as where the reporter's own device is used, the device being the subject",
}


def read_services(title: str, text: str, policy: Policy) -> Reading:
    """Which services the report is about, and which it only mentions."""
    found = catalogue(policy)
    title, text = _mask(clean(title)), _mask(clean(text))
    typo = None
    if found.any_term is None or not (found.any_term.search(title) or found.any_term.search(text)):
        typo = _typo(title, found)
        if typo is None:
            return Reading((), (), ())  # most reports name no service (the fast path)
        title = title.replace(typo[0], typo[1])
    parts = [s for s in _SENTENCE_END.split(own_words(text).strip()) if s.strip()]
    head, tail = parts[:SUBJECT_SENTENCES], "\n".join(parts[SUBJECT_SENTENCES:])
    device = _about_a_device(title, parts, found)
    rows: list[tuple[str, list[Mention]]] = []  # each sentence and the names in it
    # the title first; the first sentences when it names nothing; the rest when they don't
    for chunk, where in ((title, "title"), (_head(head, found), "text"), (tail, "text")):
        said = any(m.why_not is None for _s, seen in rows for m in seen)
        for sentence in _sentences(chunk):
            seen = _scan(sentence, where, found)
            if said:
                seen = [_as(m, "later") if m.why_not is None else m for m in seen]
            elif device and where == "text":
                seen = [_as(m, "device") if m.why_not is None else m for m in seen]
            rows.append((sentence, seen))
    rows = _contradicted(_another_matter(rows))
    mentions = [m for _s, seen in rows for m in seen]
    order = found.order  # the catalogue's order
    subject = _unique(sorted((m.service for m in mentions if m.why_not is None), key=order.get))
    mentioned = _unique(
        sorted((m.service for m in mentions if m.service not in subject), key=order.get)
    )
    asides = tuple(  # another service's sentences, beside the subject's (not a device's)
        s.lstrip("\x00")
        for s, seen in rows
        if subject
        and seen
        and not {m.service for m in seen} & set(subject)
        and all(m.why_not != "device" for m in seen)
    )
    return Reading(subject, mentioned, tuple(mentions), asides)


def _as(m: Mention, why: str) -> Mention:
    return Mention(m.service, m.term, m.where, why, m.relayed)


def _mask(text: str) -> str:
    """The text with phrases in which an alias's word means something else blanked out."""
    return _OTHER_MEANING_PHRASE.sub(lambda m: "\x01" * len(m.group(0)), text)


def _about_a_device(title: str, parts: list[str], found: Catalogue) -> bool:
    """Whether the title names a device of the reporter's and no service, and the text's first
    sentence names no service either ("New laptop request" / "Could I get a new laptop?")."""
    if found.any_term.search(title) or not _DEVICE.search(title):
        return False
    return not (parts and found.any_term.search(parts[0]))


def _another_matter(rows: list[tuple[str, list[Mention]]]) -> list[tuple[str, list[Mention]]]:
    """A sentence the reporter says is about another matter ("I know Teams is down, this is
    something else") names no subject, when another sentence names one."""
    subject_in = [any(m.why_not is None for m in seen) for _s, seen in rows]
    out = []
    for i, (sentence, seen) in enumerate(rows):
        if subject_in[i] and _ANOTHER_MATTER.search(sentence) and sum(subject_in) > 1:
            seen = [_as(m, "aside") if m.why_not is None else m for m in seen]
        out.append((sentence, seen))
    return out


def _contradicted(rows: list[tuple[str, list[Mention]]]) -> list[tuple[str, list[Mention]]]:
    """A service only others say is down ("a supplier said our portal is down") that the
    reporter says works ("… and it works fine for me") is not what the report is about."""
    mentions = [m for _s, seen in rows for m in seen]
    relayed = {m.service for m in mentions if m.why_not is None and m.relayed}
    if not relayed:
        return rows
    fine = {m.service for m in mentions if m.why_not == "fine"}
    if any(not seen and _says_it_works(s) for s, seen in rows):
        fine |= relayed
    own = {m.service for m in mentions if m.why_not is None and not m.relayed}
    gone = (relayed & fine) - own
    if not gone:
        return rows
    return [
        (
            s,
            [
                _as(m, "contradicted") if m.service in gone and m.why_not is None else m
                for m in seen
            ],
        )
        for s, seen in rows
    ]


def _says_it_works(sentence: str) -> bool:
    return any(_AFTER_FINE.match(sentence[m.end() :]) for m in _IT_FINE.finditer(sentence))


def why_mentioned(reason: str) -> str:
    """The words for a mention's reason."""
    return _WHY.get(reason, reason)


def _head(sentences: list[str], found: Catalogue) -> str:
    """The first sentences; when one says what is wrong and names no service, the others
    that name a service but say nothing is wrong are its background ("… offline. I need it
    to print the SAP reports")."""
    named = [bool(found.any_term.search(s)) for s in sentences]
    if all(named) or not any(has_impact(s) for s, n in zip(sentences, named, strict=True) if not n):
        return "\n".join(sentences)
    said = [has_impact(s) for s in sentences]
    if any(i and not n for i, n in zip(said, named, strict=True)):
        return "\n".join(s if i else f"\x00{s}" for s, i in zip(sentences, said, strict=True))
    return "\n".join(sentences)


def _sentences(chunk: str) -> list[str]:
    if not chunk:
        return []
    return [s for line in chunk.split("\n") for s in _SENTENCE_END.split(line) if s.strip()]


def _scan(sentence: str, where: str, found: Catalogue) -> list[Mention]:
    background = sentence.startswith("\x00")
    out: list[Mention] = []
    matches = list(found.any_term.finditer(sentence))
    if not matches:
        return out
    said = _RELAYED.search(sentence)  # once a sentence: the names after it are relayed
    device = _DEVICE.search(sentence)
    for match in matches:
        written = match.group(0)
        key = found.lookup.get(norm(written)) or found.lookup.get(
            norm(re.sub(r"(?:'s|s)$", "", written))
        )
        if key is None:
            continue
        before = sentence[max(0, match.start() - 60) : match.start()]
        after = sentence[match.end() : match.end() + 60]
        used = device is not None and device.start() < match.start()
        why = "background" if background else _weak(before, after, written, used)
        told = (said is not None and said.start() < match.start()) or any(
            m.why_not == "medium" for m in out
        )
        out.append(Mention(key, written, where, why, told))
    return _parts(sentence, out)


def _weak(before: str, after: str, written: str, device: bool) -> str | None:
    """Why a name is only mentioned, from the words around it; None: it may be the subject.
    `device`: a device of the reporter's is named before it in the sentence."""
    why = _weak_by_words(before, after)
    if why is not None:
        return why
    message = norm(written).rstrip("s") in _MESSAGE_WORDS and _ONE_MESSAGE.search(before)
    if message and _AFTER_ONE_MESSAGE.match(after):
        return "medium"  # one message ("an email from HR"), not the email service
    named = _DEVICE.search(before) if device and _IN_USE.search(before) else None
    if named and has_impact(before[named.start() :]):
        return "device"  # "my headset doesn't work in Teams calls"
    return None


def _weak_by_words(before: str, after: str) -> str | None:
    found = _BEFORE.search(before)
    if found:
        if found.group("threat"):
            return "security"
        word = found.group(0).split()[0].lower()
        return "medium" if word in ("via", "over", "per", "by") else "not"
    if _RECEIVED.search(before) and _AFTER_MESSAGE.match(after):
        return "medium"
    if _AFTER_MEDIUM.match(after):
        return "medium"
    if _AFTER_FINE.match(after):
        return "fine"
    return None


def _parts(sentence: str, mentions: list[Mention]) -> list[Mention]:
    """An everyday-word alias beside another service's own name, not joined to it by "and"
    or "or", names a part of that service ("Workday login issue")."""
    own = [m for m in mentions if m.why_not is None and norm(m.term) not in COMMON_WORDS]
    if not own:
        return mentions
    out = []
    for m in mentions:
        if m.why_not is None and norm(m.term) in COMMON_WORDS:
            others = [o for o in own if o.service != m.service]
            if others and not any(_joined(sentence, m.term, o.term) for o in others):
                m = _as(m, "part")
        out.append(m)
    return out


def _joined(sentence: str, a: str, b: str) -> bool:
    low = sentence.lower()
    i, j = low.find(a.lower()), low.find(b.lower())
    between = low[min(i, j) : max(i, j)]
    return bool(_COORDINATED.search(between))


def _typo(title: str, found: Catalogue) -> tuple[str, str] | None:
    """A word of the title one letter short, long or swapped from a long one-word name
    ("outlok", "payrol"); substitutions are not typos here ("trucking" is not "tracking")."""
    for word in _WORD.findall(title):
        low = word.lower()
        for name in found.long_words:
            if abs(len(name) - len(low)) <= 1 and low != name and _one_slip(low, name):
                return word, name
    return None


def _one_slip(a: str, b: str) -> bool:
    if len(a) == len(b):  # one pair of neighbours swapped
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
