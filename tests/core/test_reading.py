"""How a report's words name services: which it is about, which it only mentions, and why."""

from __future__ import annotations

import pytest

from hub.core.reading import read_services
from tests.classification.evaluate import set_policy

POLICY = set_policy()


@pytest.mark.parametrize(
    ("title", "text", "about", "why"),
    [
        # an alias's word in a phrase that means something else
        ("Exchange rate wrong in invoicing", "", ("erp",), {}),
        ("Question", "Can I swap my mouse in exchange for a new one?", (), {}),
        # one message is not the email service; the email service is
        ("Got an email from HR", "", (), {"email": "medium"}),
        ("Your incident email", "", (), {"email": "medium"}),
        ("Email down", "Nobody gets any email since 9.", ("email",), {}),
        # someone else's claim that the reporter contradicts, and one the reporter passes on
        ("Supplier call", "A supplier said our portal is down. It works fine for me.", (), {}),
        (
            "Supplier call",
            "A supplier said our portal is down, can you check?",
            ("customer-portal",),
            {},
        ),
        # a device of the reporter's is the subject
        ("my headset doesn't work in teams calls", "", (), {"teams": "device"}),
        ("New laptop please", "Could I get a new laptop? Outlook is slow on mine.", (), {}),
        ("Laptop can't connect to VPN", "", ("vpn",), {}),
        ("PC problem", "Outlook won't open on my PC.", ("email",), {}),
        # an aside the reporter says is another matter
        ("VPN slow", "Teams was down too, but that's a different thing.", ("vpn",), {}),
        # a signature naming services
        (
            "Help",
            "The handhelds are down.\n\nRegards\nAnna\nPayroll team",
            ("warehouse-scanners",),
            {},
        ),
    ],
)
def test_read_services(title, text, about, why):
    reading = read_services(title, text, POLICY)
    assert reading.subject == about, reading
    for service, reason in why.items():
        assert reason in {m.why_not for m in reading.mentions if m.service == service}, reading


def test_an_aside_about_another_service_is_not_the_reports_impact():
    reading = read_services(
        "Outlook rules not working", "I know Teams is down, this is something else.", POLICY
    )
    assert reading.subject == ("email",)
    assert reading.asides == ("I know Teams is down, this is something else.",)
