"""Charsets people's mail really uses: raw 8-bit subjects in legacy charsets, labels that lie
about UTF-8 bodies, encoded words split inside a character. Titles and descriptions readable."""

from __future__ import annotations

import base64

import pytest

from hub.intake.email.charsets import decode_bytes, header_text
from tests.email_corpus import DOMAIN, INTAKE
from tests.email_kit import feed, incident, later

FROM = f"Ben Okafor <ben.okafor@{DOMAIN}>"


def _raw(subject: bytes, body: bytes, charset: str | None, cte: str = "8bit", n: int = 0) -> bytes:
    content = "text/plain" + (f"; charset={charset}" if charset else "")
    head = (
        f"From: {FROM}\r\nTo: {INTAKE}\r\nDate: Tue, 03 Mar 2026 09:00:00 +0000\r\n"
        f"Message-ID: <charset-{n}@mail.{DOMAIN}>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content}\r\nContent-Transfer-Encoding: {cte}\r\n"
    ).encode()
    return head + b"Subject: " + subject + b"\r\n\r\n" + body + b"\r\n"


RAW_SUBJECTS = [
    # (charset of the raw 8-bit Subject, the body's declared charset, subject, body)
    ("koi8-r", "koi8-r", "Не работает почтовый сервер", "Сервер не отвечает с утра."),
    ("koi8-r", None, "Сервер упал", "The mail server is down."),
    ("latin-1", "iso-8859-1", "Störung im Rechenzentrum Köln", "Alle Drucker sind gestört."),
    ("latin-1", None, "Panne générale du réseau à Paris", "Plus rien ne marche."),
    ("cp1252", "windows-1252", "Ausfall – Drucker „Büro“ defekt", "Seit 9 Uhr – nichts geht."),
    ("cp1252", None, "Über: Netzwerk gestört – bitte prüfen", "Kein Zugang."),
]


@pytest.mark.parametrize("charset, declared, subject, body", RAW_SUBJECTS)
def test_raw_8bit_subjects_in_legacy_charsets(mhub, charset, declared, subject, body):
    raw = _raw(subject.encode(charset), body.encode(declared or "ascii", "replace"), declared)
    if declared is None:
        raw = _raw(subject.encode(charset), body.encode("ascii"), None)
    result, _row = feed(mhub, raw, later(1))
    assert result.outcome == "created", result
    made = incident(mhub, int(result.incident.removeprefix("INC-")))
    assert made.title == subject
    assert made.description == body


LYING_LABELS = [
    ("iso-2022-jp", "メールサーバーが応答しません。朝から送信できません。"),
    ("gb2312", "邮件服务器从早上开始无法发送邮件，请尽快处理。"),
    ("iso-8859-1", "Der Server ist seit 9 Uhr gestört – bitte prüfen."),
    ("us-ascii", "Überall Störungen: the VPN is down."),
]


@pytest.mark.parametrize("label, text", LYING_LABELS)
def test_labels_that_lie_about_utf8_bodies(mhub, label, text):
    raw = _raw(b"Outage report " + label.encode(), text.encode("utf-8"), label, n=hash(label))
    result, _row = feed(mhub, raw, later(1))
    made = incident(mhub, int(result.incident.removeprefix("INC-")))
    assert made.description == text
    assert "\ufffd" not in made.description


def _split_words(text: str, at: int, kind: str = "B") -> str:
    data = text.encode("utf-8")
    parts = [data[:at], data[at:]]
    if kind == "B":
        words = [f"=?UTF-8?B?{base64.b64encode(p).decode()}?=" for p in parts]
    else:
        words = [
            "=?utf-8?Q?"
            + "".join(f"={b:02X}" if b > 127 or b in b" ?=_" else chr(b) for b in p)
            + "?="
            for p in parts
        ]
    return "\r\n ".join(words)


@pytest.mark.parametrize("kind", ["B", "Q"])
def test_encoded_words_split_inside_a_character(mhub, kind):
    title = "Störung: 邮件服务器 down"
    at = len("Störung: ".encode()) + 1  # inside the first Chinese character
    subject = _split_words(title, at, kind).encode()
    result, _row = feed(mhub, _raw(subject, b"See subject.", "us-ascii", n=ord(kind)), later(1))
    assert incident(mhub, int(result.incident.removeprefix("INC-"))).title == title


def test_the_rules_directly():
    assert decode_bytes("Grüße".encode(), "iso-8859-1") == "Grüße"  # UTF-8 wins over a label
    assert decode_bytes("Grüße".encode("latin-1"), "iso-8859-1") == "Grüße"  # the label holds
    assert decode_bytes("Grüße".encode("latin-1"), "x-unknown") == "Grüße"  # unknown label
    assert decode_bytes("日本語".encode("iso-2022-jp"), "iso-2022-jp") == "日本語"  # 7-bit
    assert header_text("=?x-unknown?Q?caf=C3=A9?=") == "café"
    assert header_text("plain") == "plain"
