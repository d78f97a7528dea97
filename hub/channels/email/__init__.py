"""Email out: compose (templates, threading, reply tokens) and transports (SMTP, Graph, sink)."""

from hub.channels.email.compose import (
    REPLY_MARKER,
    ThreadInfo,
    build_mime,
    render_email,
    reply_marker,
)
from hub.channels.email.ids import make_reply_token, verify_message_id, verify_reply_token

__all__ = [
    "REPLY_MARKER",
    "ThreadInfo",
    "build_mime",
    "make_reply_token",
    "render_email",
    "reply_marker",
    "verify_message_id",
    "verify_reply_token",
]
