"""Property tests: generated message structures never crash the intake and always end recorded."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.policy import SMTP, compat32

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.email_corpus import DOMAIN, INTAKE
from tests.email_kit import feed

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "shift_jis", "koi8-r", "us-ascii"]
HEADERS = [
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "In-Reply-To",
    "References",
    "Cc",
    "X-Failed-Recipients",
    "Authentication-Results",
    "Reply-To",
    "X-Autoreply",
]
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
# A header value is one line: what str.splitlines breaks on (\x1c-\x1e, \x85, \u2028 …) the
# email package refuses in a header before the hub sees the message.
one_line = text.filter(lambda s: "".join(s.splitlines()) == s)
senders = st.sampled_from(
    [
        f"ben.okafor@{DOMAIN}",
        f"julia.costa@{DOMAIN}",
        "eve@evil.example",
        "MAILER-DAEMON@mx.example",
        "not an address",
        "",
    ]
)


@st.composite
def leaf(draw) -> EmailMessage:
    part = EmailMessage(policy=SMTP)
    kind = draw(st.sampled_from(["plain", "html", "binary"]))
    if kind == "binary":
        part.set_content(
            draw(st.binary(max_size=500)),
            maintype="application",
            subtype=draw(st.sampled_from(["pdf", "octet-stream"])),
            filename=draw(st.one_of(st.none(), one_line)) or None,
        )
        return part
    charset = draw(st.sampled_from(CHARSETS))
    body = draw(text)
    try:
        body.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    part.set_content(
        body,
        subtype=kind,
        charset=charset,
        cte=draw(st.sampled_from(["base64", "quoted-printable", "8bit"])),
    )
    return part


def tree(depth: int):
    if depth == 0:
        return leaf()
    return st.one_of(leaf(), st.lists(tree(depth - 1), min_size=1, max_size=4).map(_multipart))


_boundaries = itertools.count()


def _multipart(children: list[EmailMessage]) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg.make_mixed()
    for child in children:
        msg.attach(child)
    msg.set_boundary(f"==hyp-{next(_boundaries)}==")  # the library's own would use `random`
    return msg


@st.composite
def messages(draw) -> bytes:
    msg = draw(tree(3))
    fields = [("From", draw(senders)), ("To", INTAKE), ("Subject", draw(text))]
    if draw(st.booleans()):
        fields.append(("Message-ID", f"<{draw(st.integers(0, 5))}@prop.example>"))
    fields += [
        (name, draw(text))
        for name in draw(st.lists(st.sampled_from(HEADERS), max_size=3, unique=True))
    ]
    raw_lines = b""
    for name, value in fields:
        try:
            msg[name] = value
        except Exception:  # not a valid header for the library: write it raw, as an attacker would
            raw_lines += f"{name}: {' '.join(value.split())}\r\n".encode("utf-8", "replace")
    data = raw_lines + (msg.as_bytes(policy=compat32) if draw(st.booleans()) else msg.as_bytes())
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    junk = draw(st.binary(max_size=40))
    return data[:cut] + junk if cut is not None else data


@SETTINGS
@given(data=messages())
def test_the_pipeline_never_crashes_and_always_records_an_outcome(mhub, data):
    result, row = feed(mhub, data)
    assert row.status in ("processed", "quarantined"), row.decisions
    assert result.outcome in ("created", "threaded", "duplicate", "ignored", "quarantined")
    assert row.decisions and all({"step", "decision", "reason"} <= set(d) for d in row.decisions)
    assert row.raw == data  # the raw copy is kept as it came


@pytest.fixture
def web_client(mhub):
    from hub import create_app
    from hub.http.auth import create_token

    with mhub.db.session() as session:
        token = create_token(session, mhub.policy, "julia")
    return create_app({"TESTING": True}, hub=mhub).test_client(), token


@settings(SETTINGS, max_examples=15)
@given(data=messages())
def test_http_intake_never_answers_5xx_for_a_message_it_stored(web_client, data):
    client, token = web_client
    response = client.post(
        "/intake/email",
        data=data or b"x",
        content_type="message/rfc822",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["outcome"] in (
        "created",
        "threaded",
        "duplicate",
        "ignored",
        "quarantined",
    )
