"""The impact a report's own words describe: outage, degraded, minor, or none said. Pure.

Read from the reporter's words, not the quoted message below them nor the signature; negated
words ("not down", "no longer slow", "isn't working") do not count, a statement that it works
again means no impact, and an outage word qualified by how often or when ("crashed twice",
"crashes when I open VA01", also where the subject line said it unqualified) describes
degraded service. What the word is said of counts too: a function of a service ("Outlook
search not working", "can't open attachments") is degraded service, something cosmetic
("email signature broken", "it's broken" after it) is minor.
"""

from __future__ import annotations

import re

from hub.core.text import clean, own_words

_NEGATED = (
    r"(?<!\bnot )(?<!\bno )(?<!n't )(?<!\bnever )(?<!\bno longer )(?<!\bnot really )"
    r"(?<!\bnot even )(?<!\bnot completely )"
)
_CANT = r"(?:can ?not|can't|cant|could ?not|couldn't|unable to|won't|wont|will not)"
_OUTAGE = re.compile(
    rf"{_NEGATED}(?<!\w)(?:down|outage|offline|unavailable|unreachable|inaccessible|broken"
    r"|kaputt|dead|fail(?:s|ing|ed)? for (?:all|every\w*|the whole)"
    r"|not (?:working|responding|loading|opening|starting|connecting|arriving|saving"
    r"|available|accessible|reachable|coming in|going out)"
    r"|(?:stopped|isn't|aren't|is not|are not) working"
    r"|(?:doesn't|does not|don't|do not|didn't) (?:work|load|open|start|connect)"
    r"|crash(?:ed|es|ing)?|lost connection|no connection"
    r"|no (?:\w+ ){0,2}(?:coming in|arriving|going out)"
    rf"|{_CANT} (?:log ?in|log ?on|sign ?in|access|connect|open|send|receive|join|create"
    r"|enter|use|load|start|submit|save|see|reach|book|print)"
    r"|(?:funktioniert|geht) (?:\w+ ){0,2}nicht|non funziona|ne (?:marche|fonctionne) pas"
    r"|no funciona|werkt niet|plante)(?!\w)",
    re.IGNORECASE,
)
_DEGRADED = re.compile(
    rf"{_NEGATED}(?<!\w)(?:slow(?:ly|ness)?|sluggish|laggy|lagging|intermittent(?:ly)?|degraded"
    r"|degradation|errors? for some|some users|partial(?:ly)?|timing out|times? out|time ?outs?"
    r"|flaky|disconnect(?:s|ing|ed)?|drop(?:s|ping)|keeps? (?:dropping|freezing|hanging)"
    r"|freez(?:es|ing)|stuck|not (?:syncing|updating|updated|showing|printing)"
    r"|has not updated|delayed|outdated|out of date|takes? (?:ages|forever)|langsam|lento"
    r"|(?:a|one|\d+) (?:days?|hours?|weeks?) old|not there|missing|errors?)(?!\w)",
    re.IGNORECASE,
)
_RECOVERED = re.compile(
    r"(?<!\w)(?:working (?:again|fine again)|works again|back (?:up|online|to normal)"
    r"|all good(?: now)?|(?:is|are|seems?) (?:fixed|resolved) now|up again)(?!\w)",
    re.IGNORECASE,
)
# an outage word said with how often or when: it happens, it is not simply down
_QUALIFIED = re.compile(
    r"^\W*(?:\w+\W+){0,2}?(?:twice|\d+ times|sometimes|occasionally|now and then"
    r"|every (?:now|few|\d+)|when(?:ever)?|if)\b",
    re.IGNORECASE,
)


# the outage is some people's, not the service's: "some users", "others are fine"
_PARTIAL = re.compile(
    r"(?<!\w)(?:some users|for some(?: users| people)?|others (?:are|seem) fine|partial(?:ly)?"
    r"|only (?:some|a few))(?!\w)",
    re.IGNORECASE,
)


# a function of a service, not the service: when it fails the service is degraded
_FEATURE = re.compile(
    r"(?<!\w)(?:search|rules?|filters?|connectors?|integrations?|plug-?ins?|add-?ins?"
    r"|notifications?|reminders?|attachments?|previews?|screen ?shar(?:e|ing)|sharing"
    r"|spell ?check\w*|auto-?complete|out[ -]of[ -]office|auto-?repl(?:y|ies)|shortcuts?"
    r"|templates?|calendars?|(?:contact |web ?)?forms?|buttons?|links?|widgets?|tabs?"
    r"|recordings?|transcripts?|transcription|captions|subtitles|whiteboard|favou?rites"
    r"|bookmarks|dark mode|sync|syncing|sorting|reactions|read receipts)(?!\w)",
    re.IGNORECASE,
)
# something cosmetic: when it is "broken" nothing is out of service
_COSMETIC = re.compile(
    r"(?<!\w)(?:signatures?|logos?|icons?|fonts?|colou?rs?|layout|themes?|wallpapers?"
    r"|profile (?:pictures?|photos?|images?)|avatars?|display names?|spelling|typos?"
    r"|alignment|banners?|emojis?|initials)(?!\w)",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"[,;:()]|\b(?:and|but|so|because|while|although|though)\b", re.I)
_SENTENCE = re.compile(r"[.!?\n]")
_PRONOUN = re.compile(r"^\W*(?:it|it's|its|it is|they|they're|they are|this|that)?\W*$", re.I)
_CANT_START = re.compile(rf"^{_CANT}\s", re.IGNORECASE)


def infer_impact(text: str) -> str | None:
    """The impact the words of a report describe: outage, degraded, minor (cosmetic), or None."""
    own = own_words(clean(text))
    if _RECOVERED.search(own):
        return None
    if _PARTIAL.search(own):
        return "degraded"
    said = set()
    for match in _OUTAGE.finditer(own):
        scope = _said_of(own, match)
        if scope == "cosmetic":
            said.add("minor")
        elif scope == "feature" or _qualified(own, match):
            said.add("degraded")
        else:
            return "outage"
    if "degraded" in said:
        return "degraded"
    for match in _DEGRADED.finditer(own):
        if _said_of(own, match) != "cosmetic":
            return "degraded"
        said.add("minor")
    return "minor" if said else None


def _qualified(own: str, match: re.Match[str]) -> bool:
    """Whether an outage word is said with how often or when, here or where it is said again
    ("SAP GUI crashing" above "crashes when I open VA01": one statement, qualified below)."""
    if _QUALIFIED.match(own[match.end() : match.end() + 40]):
        return True
    stem = match.group(0)[:5].lower()
    if stem not in own[match.end() :].lower():
        return False
    return any(
        again.group(0)[:5].lower() == stem and _QUALIFIED.match(own[again.end() : again.end() + 40])
        for again in _OUTAGE.finditer(own, match.end())
    )


def _said_of(own: str, match: re.Match[str]) -> str:
    """What an impact word is said of: "feature", "cosmetic" or "service" (the service itself).

    The subject is the clause before the word (the sentence, and the one before it, when the
    clause is only "it"); for "can't open …" the words after it too."""
    before = own[: match.start()]
    starts = [0, *(m.end() for m in _SENTENCE.finditer(before))]
    subject = _CLAUSE.split(before[starts[-1] :])[-1]
    if _PRONOUN.match(subject):  # "…, it's broken": the sentence says what "it" is
        subject = before[starts[-1] :]
        if _PRONOUN.match(_CLAUSE.split(subject)[0]) and len(starts) > 1:
            subject = before[starts[-2] :]  # "It's broken." after the sentence naming it
    if _CANT_START.match(match.group(0)):
        subject += " " + " ".join(own[match.end() : match.end() + 60].split()[:3])
    if _COSMETIC.search(subject):
        return "cosmetic"
    if _FEATURE.search(subject):
        return "feature"
    return "service"


def has_impact(text: str) -> bool:
    """Whether the words describe any impact (outage or degraded)."""
    own = clean(text)
    return bool(_OUTAGE.search(own) or _DEGRADED.search(own))
