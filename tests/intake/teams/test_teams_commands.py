"""The Teams command parser (pure), the reply cards, and the Teams app package."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import pytest

from hub.channels.teams.cards import card_problems
from hub.intake.commands import USAGE
from hub.intake.teams.commands import clean, parse

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
SERVICES = ("payroll", "adp", "vpn", "remote access", "email", "mail", "track and trace")


def p(text: str):
    return parse(text, bot_names=["MIHub"], severities=SEVERITIES, services=SERVICES)


@pytest.mark.parametrize(
    "text, name, fields",
    [
        ("<at>MIHub</at> help", "help", {}),
        ("<at>MIHub</at>", "help", {}),
        ("<at>MIHub</at>&nbsp;ACK inc-42", "ack", {"ref": "INC-42"}),
        ("<at>MIHub</at> STATUS", "status", {"ref": None}),
        (
            "<at>MIHub</at> update INC-4 Fix deployed,\nmonitoring",
            "update",
            {"ref": "INC-4", "text": "Fix deployed,\nmonitoring"},
        ),
        (
            "<at>MIHub</at> VPN is down for everyone in Hamburg",
            "report",
            {"text": "VPN is down for everyone in Hamburg"},
        ),
        (
            "<p>resolve INC-4</p><p>rolled back <b>the</b> change</p>",
            "resolve",
            {"ref": "INC-4", "text": "rolled back the change"},
        ),
        (
            "assign INC-3 tech lead <at>Ben Okafor</at>",
            "assign",
            {
                "ref": "INC-3",
                "role": "tech_lead",
                "person": "Ben Okafor",
                "mentions": ("Ben Okafor",),
            },
        ),
    ],
)
def test_commands(text, name, fields):
    """Teams' layer: the markup and the bot's mentions go, then the chat grammar
    (tests/intake/test_commands.py)."""
    cmd = p(text)
    assert cmd.name == name, cmd
    assert cmd.error is None, cmd.error
    for key, value in fields.items():
        assert getattr(cmd, key) == value, (key, cmd)


def test_mentions_html_and_entities():
    text, mentions = clean(
        "<at>MIHub</at> <p>assign INC-1 <b>tl</b> <at>Ben&nbsp;Okafor</at></p>"
        "<div>&lt;script&gt;x&lt;/script&gt; &amp; more</div>",
        ["MIHub"],
    )
    assert text == "assign INC-1 tl @Ben Okafor\n\n<script>x</script> & more"
    assert mentions == ("Ben Okafor",)


def test_bot_mentioned_later_is_removed_too():
    cmd = p("ack INC-5 <at>MIHub</at>")
    assert cmd.name == "ack" and cmd.ref == "INC-5" and cmd.mentions == ()


def test_hostile_text_survives_literally():
    hostile = '"}]}, {"type": "Action.Submit"} **bold** [x](javascript:alert(1)) <at>Evil</at>'
    cmd = p("report " + hostile)
    assert cmd.name == "report"
    assert '"}]}, {"type": "Action.Submit"}' in cmd.text and "javascript:" in cmd.text


# -- reply cards -------------------------------------------------------------------------------


def test_help_card_is_valid_and_escapes_the_note():
    from hub.intake.teams.replies import help_reply

    reply = help_reply("https://hub.example.com", note="I don't know '<at>x</at> [a](b)'")
    assert card_problems(reply.card) == []
    note = reply.card["body"][1]["text"]
    assert "\\<at\\>" in note and "\\[a\\]\\(b\\)" in note
    actions = reply.card["actions"]
    assert {a["type"] for a in actions} == {"Action.OpenUrl"}
    envelope = reply.activity()
    assert envelope["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


def test_text_reply_becomes_a_card_for_webhooks():
    from hub.intake.teams.replies import Reply

    reply = Reply("plain **text**")
    assert reply.activity() == {"type": "message", "text": "plain **text**"}
    assert card_problems(reply.as_card()) == []


# -- the app package ---------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append(kind)
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + width * 4)
    return width, height, color


def _settings(**values):
    from hub.app.settings import load_settings

    return load_settings(
        env={},
        overrides={
            "HUB_BASE_URL": "https://hub.example.com",
            "HUB_BOT_APP_ID": "6f0b1c2e-0000-4000-8000-00000000abcd",
            **values,
        },
    )


def test_app_package_zip_manifest_and_icons():
    from hub.intake.teams.app_package import NOT_IN_MENU, build_package

    data = build_package(_settings(), version="1.2.3")
    assert data == build_package(_settings(), version="1.2.3")  # deterministic
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["version"] == "1.2.3" and manifest["manifestVersion"] == "1.17"
    bot = manifest["bots"][0]
    assert bot["botId"] == "6f0b1c2e-0000-4000-8000-00000000abcd"
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert titles == [name for name in USAGE if name not in NOT_IN_MENU]
    assert len(titles) <= 10  # a bot menu's limit
    assert all(len(c["description"]) <= 128 for c in bot["commandLists"][0]["commands"])
    assert manifest["validDomains"] == ["hub.example.com"]
    assert manifest["developer"]["websiteUrl"].startswith("https://")
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert _png_size(archive.read("color.png")) == (192, 192, 6)
    assert _png_size(archive.read("outline.png")) == (32, 32, 6)


def test_outline_icon_is_white_on_transparent():
    from hub.intake.teams.app_package import outline_icon

    data = outline_icon()
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    pixels = {
        raw[row * 129 + 1 + i * 4 : row * 129 + 5 + i * 4] for row in range(32) for i in range(32)
    }
    assert pixels == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}


@pytest.mark.parametrize(
    "values, problem",
    [
        ({"HUB_BOT_APP_ID": None}, "HUB_BOT_APP_ID"),
        ({"HUB_BOT_APP_ID": "not-a-guid"}, "HUB_BOT_APP_ID"),
        ({"HUB_BASE_URL": "http://127.0.0.1:8080"}, "https"),
    ],
)
def test_app_package_refuses_bad_settings(values, problem):
    from hub.intake.teams.app_package import PackageError, build_package

    with pytest.raises(PackageError, match=problem):
        build_package(_settings(**values))


def test_cli_writes_the_package(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hub.cli import main

    monkeypatch.setenv("HUB_BOT_APP_ID", "6f0b1c2e-0000-4000-8000-00000000abcd")
    monkeypatch.setenv("HUB_BASE_URL", "https://hub.example.com")
    out = tmp_path / "app.zip"
    result = CliRunner().invoke(main, ["teams", "app-package", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert zipfile.ZipFile(out).read("manifest.json")
    monkeypatch.delenv("HUB_BOT_APP_ID")
    result = CliRunner().invoke(main, ["teams", "app-package", "-o", str(out)])
    assert result.exit_code != 0 and "HUB_BOT_APP_ID" in result.output


# -- the same answer in Teams as over REST (hub.core.permissions) ------------------------------


@pytest.fixture
def both(backend, example_policy):
    """A hub taking Teams webhook commands and REST calls: (teams(person, text) -> reply text,
    rest(person, path, body) -> status, the incident's ref: a major ERP incident whose roles
    are Anna (MIM), Elif (Technical Lead, the service's), Chloe (Comms) and David (PM))."""
    from hub import create_app
    from hub.incidents import records
    from tests.intake.teams.test_teams_intake import activity, make_hub, post_teams

    hub = make_hub(backend, example_policy)
    client = create_app({"TESTING": True}, hub=hub).test_client()
    tokens: dict[str, str] = {}

    def rest(person, path, body):
        if person not in tokens:
            tokens[person] = create_token_for(hub, person)
        r = client.post(path, json=body, headers={"Authorization": f"Bearer {tokens[person]}"})
        return r.status_code

    def teams(person, text):
        r = post_teams(client, activity(example_policy, text, who=person))
        assert r.status_code == 200, r.get_json()
        return r.get_json()["text"]

    r = client.post(
        "/api/v1/incidents",
        json={"title": "SAP is down", "services": ["erp"], "impact": "outage", "correlate": False},
        headers={"Authorization": f"Bearer {create_token_for(hub, 'ben')}"},
    )
    assert r.status_code == 201 and r.get_json()["major"], r.get_json()
    ref = r.get_json()["id"]
    with hub.db.session(write=False) as session:
        roles = {a.role: a.person for a in records.get_incident(session, ref).roles if a.active}
    assert roles == {
        "major_incident_manager": "anna",
        "tech_lead": "elif",
        "communications_owner": "chloe",
        "problem_manager": "david",
    }, roles
    yield teams, rest, ref
    hub.db.dispose()


def create_token_for(hub, person: str) -> str:
    from hub.http.auth import create_token

    with hub.db.session() as session:
        return create_token(session, hub.policy, person, "test")


@pytest.mark.parametrize(
    "person, may",
    [
        ("david", False),  # Problem Manager: updates are the MIM's, Comms Owner's, Tech Lead's
        ("julia", False),  # no role, not on duty
        ("chloe", True),  # Communications Owner
        ("elif", True),  # Technical Lead
        ("felix", True),  # a Technical Lead on duty, without a role here
    ],
)
def test_update_gets_the_same_answer_in_teams_and_over_rest(both, person, may):
    teams, rest, ref = both
    said = teams(person, f"update {ref} Restarting the batch")
    status = rest(person, f"/api/v1/incidents/{ref}/updates", {"text": "Restarting the batch"})
    assert ("Update posted" in said, status == 200) == (may, may), (said, status)
    if not may:
        assert said.startswith("⛔") and "Communications Owner" in said, said
        assert status == 403


@pytest.mark.parametrize(
    "person, may",
    [
        ("elif", False),  # Technical Lead: assigning is the Major Incident Manager's
        ("david", False),  # Problem Manager
        ("anna", True),  # the incident's Major Incident Manager
        ("ben", True),  # a Major Incident Manager on duty (and an admin)
    ],
)
def test_assign_gets_the_same_answer_in_teams_and_over_rest(both, person, may):
    teams, rest, ref = both
    said = teams(person, f"assign {ref} comms @grace")
    status = rest(
        person,
        f"/api/v1/incidents/{ref}/roles",
        {"role": "communications_owner", "person": "hannah"},
    )
    assert ("is now Communications Owner" in said, status == 200) == (may, may), (said, status)
    if not may:
        assert said.startswith("⛔") and "Major Incident Manager" in said, said
        assert status == 403
