"""The corpus cases (see __init__), read from cases.yaml: ordinary mail, replies, bounces,
automatic mail, attacks, limits."""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

import yaml

from hub.channels.email.ids import loop_token
from tests.email_corpus import DATE, DOMAIN, INTAKE, Case, World, crlf, mail, raw

CASES = Path(__file__).with_name("cases.yaml")

# A colleague's reply passes DMARC at the company's own gateway, the one the hub trusts.
PASSED = {"Authentication-Results": f"mx.{DOMAIN}; dkim=pass; dmarc=pass header.from={DOMAIN}"}

_FIELD = re.compile(r"\{\{([a-z_]+)(?::([^}]*))?\}\}")


@cache
def _data() -> dict:
    return yaml.safe_load(CASES.read_text(encoding="utf-8"))


def _filler(world: World, texts: dict, case_vars: dict):
    """fill(value): the value with every {{field}} of its strings filled in (see cases.yaml)."""
    plain = {
        "n": world.incident,
        "domain": DOMAIN,
        "intake": INTAKE,
        "date": DATE,
        "root": world.root(),
        "loop": loop_token(world.secret),
        **case_vars,
    }

    def field(m: re.Match) -> str:
        name, arg = m.groups()
        if name == "our_mid":
            return world.our_mid(arg)
        if name == "reply_to":
            return world.reply_to(f"{arg}@{DOMAIN}")
        if name == "text":
            return fill(texts[arg])
        return str(plain[name])

    def fill(value):
        if isinstance(value, str):
            return _FIELD.sub(field, value)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return fill


def _mail(spec: dict) -> bytes:
    spec = dict(spec)
    pdfs, pdf_name = spec.pop("pdfs", 0), spec.pop("pdf_name", "report.pdf")
    attached, calendar = spec.pop("attach_message", None), spec.pop("calendar", None)
    pad_mb = spec.pop("pad_mb", 0)
    msg = mail(**spec)
    if attached:
        msg.add_attachment(mail(**attached))
    if calendar:
        msg.add_alternative(calendar, subtype="calendar")
    for i in range(pdfs):
        msg.add_attachment(
            b"%PDF-1.4 fake " + bytes([i % 256]) * 100,
            maintype="application",
            subtype="pdf",
            filename=pdf_name if pdfs == 1 else f"log-{i}.pdf",
        )
    data = raw(msg)
    if pad_mb:
        data += b"\r\n" + (b"A" * 76 + b"\r\n") * (pad_mb * 1024 * 1024 // 78)
    return data


def _reply(world: World, spec: dict, texts: dict, fill) -> bytes:
    n = world.incident
    quote = fill(texts[spec["quote"]])
    return _mail(
        {
            "subject": f"RE: [INC-{n}] Payroll is down",
            "body": spec["text"] + quote,
            "sender": spec["sender"],
            "headers": {**PASSED, **spec.get("headers", {})},
            **({"to": spec["to"]} if "to" in spec else {}),
        }
    )


def _nested(depth: int) -> bytes:
    body = "Content-Type: text/plain\n\nhello\n"
    for i in range(depth):
        body = f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n{body}--b{i}--\n'
    return crlf(f"From: Ben <ben.okafor@{DOMAIN}>\nSubject: nested\nMessage-ID: <nest@x>\n{body}")


def _parts(count: int) -> bytes:
    parts = "".join(f"--p\nContent-Type: text/plain\n\npart {i}\n" for i in range(count))
    return crlf(
        f"From: Ben <ben.okafor@{DOMAIN}>\nSubject: parts\nMessage-ID: <parts@x>\n"
        f'Content-Type: multipart/mixed; boundary="p"\n\n{parts}--p--\n'
    )


def _header_lines(count: int) -> bytes:
    pad = "".join(f"X-Pad-{i}: {'p' * 70}\n" for i in range(count))
    return crlf(f"From: Ben <ben.okafor@{DOMAIN}>\nSubject: big\n{pad}\nbody\n")


def _subject_words(count: int) -> bytes:
    return crlf(
        f"From: Ben <ben.okafor@{DOMAIN}>\nSubject: " + "=?utf-8?q?a?= " * count + "\n\nbody\n"
    )


GENERATED = {
    "nested": _nested,
    "parts": _parts,
    "header_lines": _header_lines,
    "subject_words": _subject_words,
}


def build(world: World) -> list[Case]:
    """Every case, in processing order."""
    texts = _data()["texts"]
    built: dict[str, bytes] = {}
    cases = []
    for spec in _data()["cases"]:
        fill = _filler(world, texts, spec.get("vars", {}))
        if "mail" in spec:
            data = _mail(fill(spec["mail"]))
        elif "reply" in spec:
            data = _reply(world, fill(spec["reply"]), texts, fill)
        elif "raw" in spec:
            data = crlf(fill(spec["raw"]))
        elif "raw_lf" in spec:
            data = fill(spec["raw_lf"]).encode()
        elif "base64" in spec:
            data = base64.b64decode(spec["base64"])
        elif "same_as" in spec:
            data = built[spec["same_as"]]
        else:
            (kind,) = set(spec) & set(GENERATED)
            data = GENERATED[kind](spec[kind])
        built[spec["name"]] = data
        cases.append(
            Case(
                spec["name"],
                data,
                spec["outcome"],
                step=spec.get("step"),
                expect_text=spec.get("expect_text", []),
                refuse_text=spec.get("refuse_text", []),
            )
        )
    return cases
