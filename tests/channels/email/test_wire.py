"""The bytes a transport sends (`hub.channels.email.wire.mime_bytes`) are those of the email
package's message of the same parts through its generator (`build_mime` here, the oracle)."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.parser import BytesParser

import pytest

from hub.channels.email import compose, wire

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
BOUNDARY = "=_mihub_0123456789abcdef01234567"

BASE = {
    "from": "Major Incident Hub <hub@northwind.example>",
    "to": "exec00001@northwind.example",
    "subject": "[INC-12] Payroll is down",
    "text": "## Reply above this line ##\nPayroll is down.\n",
    "html": "<p>## Reply above this line ##</p>\n<p>Payroll is down.</p>\n",
    "headers": {
        "Message-ID": "<inc-12.abc@northwind.example>",
        "Reply-To": "incidents+tok123@northwind.example",
        "Auto-Submitted": "auto-generated",
        "X-Mihub-Incident": "INC-12",
    },
}

CASES = {
    "plain": {},
    "non-ASCII subject and names": {
        "from": "Hüb — Störungen <hub@northwind.example>",
        "to": "Zoë Ñúñez <zoe@northwind.example>",
        "subject": "[INC-12] Gehaltsabrechnung ausgefallen — 😀",
    },
    "long headers are folded": {
        "subject": "[INC-12] " + "a long subject that goes on " * 8,
        "headers": {**BASE["headers"], "Thread-Topic": "word " * 40},
    },
    "international domain": {"to": "Ana <ana@bücher.example>"},
    "spaces and tabs in a header": {"subject": "two  spaces,\ttab, trailing "},
    "empty bodies": {"text": "", "html": ""},
    "lines that need quoting": {
        "text": "From the desk\n.\nlong " + "x" * 200 + "\ntrailing space \r\nend=",
        "html": "<p>ünïcödé</p>\r\n\r<p>a = b</p>",
    },
    "bcc": {"bcc": ["a@northwind.example", "Ärzte <d@northwind.example>"]},
}


@pytest.fixture(autouse=True)
def fixed_boundary(monkeypatch):
    monkeypatch.setattr(compose, "_boundary", lambda: BOUNDARY)
    monkeypatch.setattr(wire, "_boundary", lambda: BOUNDARY)


def build_mime(payload: dict, *, now: datetime | None = None, bcc: bool = False) -> Message:
    """The message of `payload` as the email package builds it (compat32 classes): a
    multipart/alternative of a text and an HTML part, UTF-8 quoted-printable."""
    msg = MIMEMultipart("alternative", boundary=compose._boundary())
    for name, value in compose.mime_headers(payload, now, bcc):
        msg[name] = value
    for body, subtype in ((payload["text"], "plain"), (payload["html"], "html")):
        part = MIMENonMultipart("text", subtype, charset="utf-8")
        del part["MIME-Version"]  # only on the top level
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(compose.quoted_printable(body))
        msg.attach(part)
    return msg


def generated(payload: dict, bcc: bool) -> bytes:
    return build_mime(payload, now=NOW, bcc=bcc).as_bytes(policy=wire.SMTP_BYTES)


@pytest.mark.parametrize("bcc", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_bytes_are_the_generators(case, bcc):
    payload = {**BASE, **CASES[case]}
    assert wire.mime_bytes(payload, now=NOW, bcc=bcc) == generated(payload, bcc)


def test_random_payloads_give_the_generators_bytes():
    rng = random.Random(17)
    alphabet = string.ascii_letters + string.digits + "  \t.,;:<>\"'()[]=@-_/é—\u00a0😀\r\n"

    def text(most: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))

    refused = 0
    for _ in range(300):
        payload = {
            **BASE,
            "from": f"{text(30)} <hub@northwind.example>",
            "subject": text(rng.choice([20, 120])),
            "text": text(rng.choice([10, 2000])),
            "html": text(rng.choice([10, 2000])),
            "headers": {**BASE["headers"], "Thread-Topic": text(rng.choice([20, 120]))},
            "bcc": [f"{text(10)} <b@northwind.example>"],
        }
        bcc = rng.random() < 0.5
        try:
            expected = generated(payload, bcc)
        except (UnicodeError, ValueError) as exc:  # a name the generator cannot encode either
            with pytest.raises(type(exc)):
                wire.mime_bytes(payload, now=NOW, bcc=bcc)
            refused += 1
            continue
        assert wire.mime_bytes(payload, now=NOW, bcc=bcc) == expected, payload
    assert refused < 100, refused  # most of them were compared


def test_the_boundary_is_in_no_part():
    payload = {**BASE, "text": "=_mihub_ =5F --=_mihub_x\n", "html": "--=_mihub_"}
    data = wire.mime_bytes(payload, now=NOW)
    assert data.count(f"--{BOUNDARY}".encode()) == 3  # two delimiters and the close
    msg = BytesParser(policy=policy.default).parsebytes(data)
    text, html = (part.get_content() for part in msg.iter_parts())
    assert text == "=_mihub_ =5F --=_mihub_x\r\n"
    assert html == "--=_mihub_"


@pytest.mark.parametrize(
    "body",
    [
        "Payroll is down.\n",
        "ünïcödé — 😀 and = signs =3D\n",
        "a line longer than any quoted-printable line may be: " + "word " * 60 + "\n",
        "trailing spaces   \ntrailing tab\t\n.\nFrom the desk\n",
        "no newline at the end",
        "",
    ],
)
def test_each_part_reads_back_as_written(body):
    data = wire.mime_bytes({**BASE, "text": body, "html": f"<p>{body}</p>"}, now=NOW)
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    msg = BytesParser(policy=policy.default).parsebytes(data)
    text, html = (part.get_content() for part in msg.iter_parts())
    assert text == body.replace("\n", "\r\n")
    assert html == f"<p>{body}</p>".replace("\n", "\r\n")
