"""Text from bytes whose charset is missing, unknown or wrong: headers and body parts.

Rules, in order: non-ASCII bytes that are valid UTF-8 are UTF-8, whatever the label says (a
legacy charset that decodes UTF-8 gives mojibake or U+FFFD, while random legacy text is almost
never valid UTF-8); else the declared charset when it decodes cleanly; else a detector:
`charset-normalizer` for long text, and for short text (a raw 8-bit Subject) a score of the
candidate decodings that penalises mixed scripts, odd symbols and CaSe flips inside words, with
the message's declared charsets tried first. Encoded words are joined per charset before
decoding, so a character split across two encoded words is read whole.
"""

from __future__ import annotations

import codecs
import unicodedata
from email.header import decode_header
from email.message import EmailMessage

from charset_normalizer import from_bytes

SHORT = 200  # bytes below which the detector guesses badly
CANDIDATES = (
    "cp1252",
    "koi8_r",
    "cp1251",
    "iso8859_2",
    "iso8859_15",
    "shift_jis",
    "gb18030",
    "euc_jp",
    "big5",
    "euc_kr",
    "iso8859_7",
    "cp1250",
)
_PUNCT = set("–—‘’‚“”„«»…•€£¥§°·¡¿ ")
_SAME = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "IDEOGRAPHIC": "CJK", "FULLWIDTH": "CJK"}


def codec(name: str | None) -> str | None:
    """The Python codec for a MIME charset name, or None if unknown."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip('"').lower()).name
    except LookupError:
        return None


def decode_bytes(data: bytes, declared: str | None = None, hints: tuple = ()) -> str:
    """`data` as text: UTF-8 if it is that, else the declared charset, else the best guess."""
    if data.isascii():
        known = codec(declared)
        if known and known not in ("ascii", "utf-8"):
            try:  # ISO-2022-JP and UTF-7 are 7-bit
                return data.decode(known)
            except (UnicodeError, LookupError):
                pass
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    known = codec(declared)
    if known and known != "utf-8":
        try:
            return data.decode(known)
        except (UnicodeError, LookupError):
            pass
    return guess(data, hints)


def guess(data: bytes, hints: tuple = ()) -> str:
    """The most plausible decoding of non-UTF-8 bytes of unknown charset."""
    if len(data) >= SHORT:
        best = from_bytes(data).best()
        if best is not None:
            return str(best)
    options = [c for c in dict.fromkeys([*filter(None, map(codec, hints)), *CANDIDATES])]
    scored = []
    for rank, name in enumerate(options):
        try:
            text = data.decode(name)
        except (UnicodeError, LookupError):
            continue
        scored.append((oddness(text), rank, text))
    return min(scored)[2] if scored else data.decode("cp1252", "replace")


def oddness(text: str) -> int:
    """How unlike written words a decoding looks: mixed scripts, stray symbols, CaSe flips."""
    score = 0
    for word in text.split():
        scripts: dict[str, int] = {}
        previous_lower = False
        for ch in word:
            if ch.isascii() or ch in _PUNCT:
                if ch.isalpha():
                    scripts["LATIN"] = scripts.get("LATIN", 0) + 1
                previous_lower = ch.islower()
                continue
            if not ch.isalpha():
                score += 2  # box drawing, control pictures, odd signs
                continue
            name = unicodedata.name(ch, "UNKNOWN").split()[0]
            if name == "HALFWIDTH" or name == "UNKNOWN":
                score += 2
            script = _SAME.get(name, "CJK" if name.startswith("CJK") else name)
            scripts[script] = scripts.get(script, 0) + 1
            if ch.isupper() and previous_lower:
                score += 1
            previous_lower = ch.islower()
        if len(scripts) > 1:
            score += sum(scripts.values()) - max(scripts.values())
        accented = sum(1 for ch in word if not ch.isascii() and ch.isalpha() and _latin(ch))
        if accented >= 3 and accented * 2 > len(word):  # Cyrillic read as Latin-1 looks so
            score += 1
    return score


def _latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def header_text(value: str, hints: tuple = ()) -> str:
    """A header value as text: raw 8-bit bytes and RFC 2047 encoded words decoded."""
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already text (non-ASCII characters, not escaped bytes)
        data = None
    if data is not None and not data.isascii():
        value = decode_bytes(data, None, hints)
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except Exception:  # hostile encoded words: keep the text as it came
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:  # text between encoded words, as decode_header encoded it
            out.append(chunk.decode("raw-unicode-escape", "replace"))
        elif charset == "unknown-8bit":
            out.append(decode_bytes(chunk, None, hints))
        else:
            out.append(decode_bytes(chunk, charset, hints))
    return "".join(out)


def declared_charsets(msg: EmailMessage) -> tuple:
    """The charsets the message's text parts declare: hints for its raw 8-bit headers."""
    found = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            charset = part.get_param("charset")
            if isinstance(charset, str) and charset.lower() not in ("us-ascii", "utf-8"):
                found.append(charset)
    return tuple(dict.fromkeys(found))


def part_text(part: EmailMessage) -> str:
    """A text part decoded by the rules above (never raises)."""
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:
        payload = str(part.get_payload()).encode("utf-8", "replace")
    charset = part.get_param("charset")
    return decode_bytes(payload, charset if isinstance(charset, str) else None)
