"""Small text helpers of classification: cleaning, names, the reporter's own words. Pure."""

from __future__ import annotations

import re

_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message)\s*-{2,}|on .{3,200} wrote:"
    r"|(?:from|von|de|da):\s.+|_{10,})\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def clean(text: str) -> str:
    """Typographic apostrophes from Outlook and Teams as plain ones."""
    return text.replace("\u2019", "'")


def norm(name: str) -> str:
    """A service name as looked up: spacing collapsed, lower case."""
    return " ".join(name.split()).lower()


def strip_quoted(text: str) -> str:
    """The text without quoted replies (`> …` lines, an earlier message below a header)."""
    match = _QUOTE_START.search(text)
    if match:
        text = text[: match.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


# A sign-off alone on its line ("Kind regards", "Thanks,", "Gruß Klaus") or a mail app's
# footer ("Sent from Outlook for iPhone"): what follows is a signature, not the report, and
# names a department or an app ("Payroll team", "Get Outlook for iOS") that is not the subject.
_SIGN_OFF = re.compile(
    r"^[ \t]*(?:(?:kind |best |warm |many )?(?:regards|wishes)|best|thanks(?: a lot| again)?"
    r"|thank you|cheers|br|kr|mfg|(?:viele |liebe )?gr(?:u|ü)(?:ß|ss)e?|grazie|obrigad[oa]"
    r"|merci|saludos|cordialement|--)[ \t]*[,.!]?(?:[ \t]+\w+){0,2}[ \t]*$"
    r"|^[ \t]*(?:sent from|get|von meinem|envoy[ée] de)\s+(?:my\s+|mein\w*\s+)?\S+(?:\s+for\s+\S+)?"
    r"[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def strip_signature(text: str) -> str:
    """The text without a signature: from a sign-off line that is not its first line on."""
    if "\n" not in text:
        return text
    for match in _SIGN_OFF.finditer(text):
        if text[: match.start()].strip():
            return text[: match.start()]
    return text


def own_words(text: str) -> str:
    """The reporter's own words: no quoted message below, no signature."""
    return strip_signature(strip_quoted(text))


_UNITS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2
    )
}
_SMALL = "|".join([*_TENS, *sorted(_UNITS, key=len, reverse=True)])
_NUMBER_WORDS = re.compile(
    rf"(?<![\w-])(?:an?(?=\s+(?:hundred|thousand|dozen)\b)|(?:{_SMALL}))"
    rf"(?:(?:\s+and\s+|\s+|-)(?:{_SMALL}|hundred|thousand|dozen)\b)*(?![\w-])",
    re.IGNORECASE,
)


def has_number_words(text: str) -> bool:
    """Whether the text has a number written in words ("sixty", "a dozen")."""
    return _NUMBER_WORDS.search(text) is not None


def in_digits(text: str) -> str:
    """Numbers written in words as digits: "two hundred people" is "200 people"."""
    return _NUMBER_WORDS.sub(lambda m: str(_number(m.group(0))), text)


def _number(words: str) -> int:
    total = current = 0
    for word in re.findall(r"[a-z]+", words.lower()):
        if word in ("a", "an"):
            current = 1
        elif word in _UNITS or word in _TENS:
            current += _UNITS.get(word) or _TENS.get(word, 0)
        elif word == "hundred":
            current = (current or 1) * 100
        elif word == "dozen":
            current = (current or 1) * 12
        elif word == "thousand":
            total, current = total + (current or 1) * 1000, 0
    return total + current
