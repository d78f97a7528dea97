"""The person's words: the text part (or sanitised HTML as text), quoted text cut, attachments kept.

Quoted text goes in order: our "reply above this line" marker first, then mail-parser-reply;
if nothing is left, the whole text is kept. Attachments are stored by content hash under the
data directory, with safe names and caps; the raw message keeps everything for audit.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path

import nh3
from inscriptis import get_text
from mailparser_reply import EmailReplyParser

from hub.channels.email.compose import REPLY_MARKER_RE
from hub.intake.email.charsets import part_text

MAX_TEXT = 100_000  # characters of body we keep on the timeline
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_TOTAL = 25 * 1024 * 1024
HTML_TAGS = {
    "p",
    "br",
    "div",
    "span",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ul",
    "ol",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "blockquote",
    "pre",
    "code",
    "h1",
    "h2",
    "h3",
    "h4",
    "a",
    "hr",
}
LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv"]
_SAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass
class Body:
    """The reply text, the whole text, and what was attached."""

    text: str
    full: str
    how: str
    attachments: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def quoted(self) -> str:
        """What was cut from the text (quoted history, signatures), to keep apart; or ""."""
        whole = self.full.strip()
        if not self.text or whole == self.text.strip():
            return ""
        at = whole.find(self.text.strip())
        return (whole[at + len(self.text.strip()) :] if at >= 0 else whole).strip()


@lru_cache(maxsize=1)
def _reply_parser() -> EmailReplyParser:
    return EmailReplyParser(languages=LANGUAGES)


def html_to_text(html: str) -> str:
    """Sanitise (nh3: no scripts, styles, handlers or images), then render as plain text."""
    clean = nh3.clean(
        html[:2_000_000],
        tags=HTML_TAGS,
        attributes={"a": {"href"}},
        link_rel=None,
        url_schemes={"http", "https", "mailto"},
    )
    lines = [line.strip() for line in get_text(clean).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def strip_quoted(text: str) -> tuple[str, str]:
    """(what the person wrote, how it was found)."""
    marker = REPLY_MARKER_RE.search(text)
    cut = text[: marker.start()] if marker else text
    try:
        reply = _reply_parser().parse_reply(text=cut).strip()
    except Exception:  # a parser bug must not lose the message: keep the cut text
        reply = ""
    if reply:
        return reply, "cut at our marker" if marker else "quoted text stripped"
    if cut.strip():
        return cut.strip(), "cut at our marker" if marker else "whole text"
    return text.strip(), "whole text (nothing above the quote)"


def extract(msg: EmailMessage, attachments_dir: Path | None) -> Body:
    """The body of a parsed message; attachments written under `attachments_dir` if given."""
    notes: list[str] = []
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        full, kind = "", "none"
    elif part.get_content_subtype() == "html":
        full, kind = html_to_text(part_text(part)), "html"
        notes.append("HTML-only mail, sanitised and converted to text")
    else:
        full, kind = part_text(part), "plain"
    full = full.replace("\r\n", "\n").replace("\x00", "")[:MAX_TEXT]
    text, how = strip_quoted(full)
    saved = save_attachments(msg, part, attachments_dir, notes)
    return Body(text, full, f"{kind}, {how}", saved, notes)


def safe_name(name: str | None, digest: str) -> str:
    """A file name with no path, no control or odd characters, at most 100 characters."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = _SAFE.sub("_", base).strip(" .")[:100]
    return base or f"attachment-{digest[:12]}"


def save_attachments(
    msg: EmailMessage, body: EmailMessage | None, folder: Path | None, notes: list[str]
) -> list[dict]:
    """Leaf parts that are not the body, stored once per content hash; capped in count and size."""
    saved, total = [], 0
    for part in msg.walk():
        if part is body or part.is_multipart() or part.get_content_maintype() == "message":
            continue
        disposition = part.get_content_disposition()
        if disposition != "attachment" and part.get_content_maintype() == "text":
            continue  # the other alternative of the body, or an inline text part
        if len(saved) >= MAX_ATTACHMENTS:
            notes.append(f"more than {MAX_ATTACHMENTS} attachments: the rest kept only in the raw")
            break
        data = part.get_payload(decode=True) or b""
        if len(data) > MAX_ATTACHMENT_BYTES or total + len(data) > MAX_ATTACHMENTS_TOTAL:
            notes.append(f"attachment of {len(data)} bytes over the cap: kept only in the raw")
            continue
        digest = hashlib.sha256(data).hexdigest()
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
        saved.append(
            {
                "name": safe_name(filename, digest),
                "sha256": digest,
                "size": len(data),
                "type": part.get_content_type(),
            }
        )
        total += len(data)
        if folder is not None:
            _write_once(folder / digest[:2] / digest, data)
    return saved


def _write_once(path: Path, data: bytes) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
