"""The impact a report's own words describe: outage, degraded, or none said. Pure.

Read from the reporter's words, not the quoted message below them; negated words ("not
down", "no longer slow", "isn't working") do not count, a statement that it works again
means no impact, and an outage word qualified by how often or when ("crashed twice",
"crashes when I open VA01") describes degraded service.
"""

from __future__ import annotations

import re

from hub.core.text import clean, strip_quoted

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


def infer_impact(text: str) -> str | None:
    """The impact the words of a report describe: outage, degraded, or None if they don't say."""
    own = strip_quoted(clean(text))
    if _RECOVERED.search(own):
        return None
    degraded = _DEGRADED.search(own) is not None
    if _PARTIAL.search(own):
        return "degraded"
    for match in _OUTAGE.finditer(own):
        if not _QUALIFIED.match(own[match.end() : match.end() + 40]):
            return "outage"
        degraded = True
    return "degraded" if degraded else None


def has_impact(text: str) -> bool:
    """Whether the words describe any impact (outage or degraded)."""
    own = clean(text)
    return bool(_OUTAGE.search(own) or _DEGRADED.search(own))
