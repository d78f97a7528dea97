"""The command grammar shared by the inbound channels: chat lines and email reply lines."""

from __future__ import annotations

import pytest

from hub.intake.commands import (
    MAX_TEXT,
    USAGE,
    Command,
    parse_chat,
    parse_ref,
    parse_reply,
    parse_role,
)

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
SERVICES = ("payroll", "adp", "vpn", "remote access", "email", "mail", "track and trace")
ASSIGN = "Usage: assign INC-42 <role> @person"
ROLES = "roles are mim, tech lead, comms, problem manager"


def chat(text: str, mentions: tuple[str, ...] = ()) -> Command:
    return parse_chat(text, mentions=mentions, severities=SEVERITIES, services=SERVICES)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", Command("help")),
        ("help", Command("help")),
        ("?", Command("help")),
        ("ACK inc-42", Command("ack", ref="INC-42")),
        ("Acknowledge #7", Command("ack", ref="INC-7")),
        ("ack 42", Command("ack", ref="INC-42")),
        ("STATUS", Command("status")),
        ("show INC-3", Command("status", ref="INC-3")),
        (
            "update INC-4 Fix deployed,\nmonitoring",
            Command("update", ref="INC-4", text="Fix deployed,\nmonitoring"),
        ),
        (
            "resolve INC-4 rolled back the change",
            Command("resolve", ref="INC-4", text="rolled back the change"),
        ),
        ("subscribe inc-9", Command("subscribe", ref="INC-9")),
        ("follow INC-9", Command("subscribe", ref="INC-9")),
        (
            "report the VPN drops every 5 minutes",
            Command("report", text="the VPN drops every 5 minutes"),
        ),
        ("printer 3 is jammed", Command("report", text="printer 3 is jammed")),
        (
            "declare Payroll is down sev1 service payroll users 300",
            Command(
                "declare", text="Payroll is down", severity="SEV1", services=("payroll",), users=300
            ),
        ),
        (
            "DECLARE Payroll is down SEV2",
            Command("declare", text="Payroll is down", severity="SEV2"),
        ),
        (
            'declare VPN gone services "remote access", vpn users 1,200',
            Command("declare", text="VPN gone", services=("remote access", "vpn"), users=1200),
        ),
        (
            "declare parcels lost service track and trace",
            Command("declare", text="parcels lost", services=("track and trace",)),
        ),
        (
            "declare Printer broken service printers",
            Command("declare", text="Printer broken service printers"),
        ),
        (
            "assign INC-3 comms @chloe",
            Command("assign", ref="INC-3", role="communications_owner", person="chloe"),
        ),
        (
            "assign INC-3 Major Incident Manager Ben.",
            Command("assign", ref="INC-3", role="major_incident_manager", person="Ben"),
        ),
        (
            "assign INC-3 major_incident_manager ben.okafor@northwind.example",
            Command(
                "assign",
                ref="INC-3",
                role="major_incident_manager",
                person="ben.okafor@northwind.example",
            ),
        ),
        (
            "split INC-4 12 orders only",
            Command("split", ref="INC-4", report=12, text="orders only"),
        ),
        ("split #4 #12", Command("split", ref="INC-4", report=12)),
        ("not this INC-4", Command("notthis", ref="INC-4")),
        ("Not this, #4: mine is HR", Command("notthis", ref="INC-4", text="mine is HR")),
        ("hi", Command("unknown", text="hi")),
        ("escalate INC-4", Command("unknown", text="escalate INC-4")),
        ("/ack INC-4", Command("unknown", text="/ack INC-4")),
        ("close INC-2 now", Command("unknown", text="close INC-2 now")),
    ],
)
def test_chat_commands(text, expected):
    assert chat(text) == expected


def test_chat_commands_carry_the_mentions():
    cmd = chat("assign INC-3 tech lead @Ben Okafor", mentions=("Ben Okafor",))
    assert cmd == Command(
        "assign", ref="INC-3", role="tech_lead", person="Ben Okafor", mentions=("Ben Okafor",)
    )


@pytest.mark.parametrize(
    "text, name, error",
    [
        ("ack", "ack", "Usage: ack INC-42"),
        ("ack please", "ack", "Usage: ack INC-42"),
        ("subscribe", "subscribe", "Usage: subscribe INC-42 | <service>"),
        ("update INC-4", "update", "Usage: update INC-42 <text>"),
        ("resolve INC-4", "resolve", "Usage: resolve INC-42 <summary>"),
        ("assign", "assign", ASSIGN),
        ("assign INC-4", "assign", f"Say which role; {ROLES}. {ASSIGN}"),
        ("assign INC-4 boss ben", "assign", f"'boss' is not a role; {ROLES}. {ASSIGN}"),
        ("assign INC-4 tech lead", "assign", f"Say who. {ASSIGN}"),
        (
            "declare sev1",
            "declare",
            "A declaration needs a title. "
            "Usage: declare <title> [sev1|sev2…] [service <name>] [users <N>]",
        ),
        (
            "declare Payroll down sev9",
            "declare",
            "Unknown severity SEV9; the policy has SEV1, SEV2, SEV3, SEV4.",
        ),
        ("report", "report", "Usage: report <what is wrong>"),
        ("split INC-4", "split", "Say which report. Usage: split INC-42 <report> [why]"),
        (
            "split INC-4 the orders one",
            "split",
            "Say which report. Usage: split INC-42 <report> [why]",
        ),
        ("not this", "notthis", "Usage: not this INC-42"),
        ("status tomorrow", "status", "'tomorrow' is not an incident id. Usage: status [INC-42]"),
        (
            "report " + "x" * MAX_TEXT,
            "unknown",
            f"That message is {MAX_TEXT + 7:,} characters long; I take at most {MAX_TEXT:,}.",
        ),
    ],
)
def test_malformed_chat_commands_say_why(text, name, error):
    cmd = chat(text)
    assert (cmd.name, cmd.error) == (name, error)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ACK", Command("ack", ref="INC-42")),
        ("  acknowledged.\n\nThanks", Command("ack", ref="INC-42")),
        ("Acknowledge!", Command("ack", ref="INC-42")),
        ("UPDATE: failing over", Command("update", ref="INC-42", text="failing over")),
        (
            "update :Vendor engaged.\nETA 30 minutes\n",
            Command("update", ref="INC-42", text="Vendor engaged.\nETA 30 minutes"),
        ),
        ("UPDATE:\nthe text below", Command("update", ref="INC-42", text="the text below")),
        ("UPDATE:", Command("update", ref="INC-42", text="")),  # the operation refuses it
        ("RESOLVED: rolled back", Command("resolve", ref="INC-42", text="rolled back")),
        ("NOT THIS", Command("notthis", ref="INC-42")),
        (
            "Not this.\nMine is the HR portal.",
            Command("notthis", ref="INC-42", text="Mine is the HR portal."),
        ),
        (
            "Resolved : fixed\nby the vendor",
            Command("resolve", ref="INC-42", text="fixed\nby the vendor"),
        ),
    ],
)
def test_reply_commands(text, expected):
    assert parse_reply(text, "INC-42") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Thanks, we see it too",
        "ACK please",
        "ACK!!",
        "UPDATE failing over",  # no colon
        "RESOLVE: fixed",  # the reply word is RESOLVED
        "Re: UPDATE: fixed",
        "Hi team,\nUPDATE: failing over",  # only the first line counts
        "Not this again, please fix it",  # NOT THIS alone on its line
    ],
)
def test_other_replies_are_comments(text):
    assert parse_reply(text, "INC-42") is None


def test_refs_and_roles():
    assert parse_ref("INC-0042") == "INC-42"
    assert parse_ref("inc42,") == "INC-42"
    assert parse_ref("#7") == parse_ref("7") == "INC-7"
    assert parse_ref("INC-") is None and parse_ref("INC-1x") is None
    assert parse_role(["Tech-Lead", "ben"]) == ("tech_lead", 1)
    assert parse_role(["problem", "manager", "dave"]) == ("problem_manager", 2)
    assert parse_role(["nobody"]) == (None, 0)


def test_every_command_is_documented_with_a_usage():
    assert list(USAGE)[0] == "help"
    for name, (usage, what) in USAGE.items():
        assert usage.replace(" ", "").startswith(name) and what  # "not this" is notthis
