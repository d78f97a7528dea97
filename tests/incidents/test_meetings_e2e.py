"""The Teams bridge end to end: `mihub run` with the Graph fake and a real SMTP sink.

A declaration makes one calendar event in the organiser's mailbox, the page email carries its
join URL, and a role given to someone else through the API invites them to the event.
"""

from __future__ import annotations

import email
from email import policy as email_policy

import pytest
import requests

from hub.demo import DEMO_POLICY
from hub.testing.fakes.microsoft import FakeMicrosoft
from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.harness import create_token, hub_env, start_mihub, wait_for, wait_healthy
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.spread]
ORGANIZER = "bridge@northwind.example"


def test_bridge_made_once_join_url_mailed_new_holder_invited(tmp_path, backend):
    sink = SmtpSink().start()
    graph = FakeMicrosoft(tenant="t1", clients={"c1": "s1"}).start()
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        DEMO_POLICY.read_text()
        .replace('"https://northwind.example/workflows/executives"', '"$env:TEST_NO_WEBHOOK"')
        .replace('"https://northwind.example/workflows/oncall"', '"$env:TEST_NO_WEBHOOK"')
    )
    env, base = hub_env(
        tmp_path / "var",
        policy,
        backend,
        HUB_MAIL_TRANSPORT="smtp",
        HUB_SMTP_URL=sink.url,
        HUB_TEAMS_TRANSPORT="sink",
        HUB_AUTHORITY_HOST=graph.url,
        HUB_GRAPH_API=f"{graph.url}/v1.0",
        HUB_GRAPH_TENANT_ID="t1",
        HUB_GRAPH_CLIENT_ID="c1",
        HUB_GRAPH_CLIENT_SECRET="s1",
        HUB_GRAPH_ORGANIZER=ORGANIZER,
    )
    proc = start_mihub("run", env=env, cwd=ROOT)
    try:
        wait_healthy(base, proc, timeout=90)
        token = create_token("anna", env=env, cwd=ROOT)
        headers = {"Authorization": f"Bearer {token}"}
        body = {"title": "Payroll is down", "services": ["payroll"], "impact": "outage"}
        r = requests.post(f"{base}/api/v1/incidents", json=body, headers=headers, timeout=10)
        assert r.status_code == 201, r.text
        ref = r.json()["id"]
        events = lambda: list(graph.events.get(ORGANIZER, {}).values())  # noqa: E731
        (event,) = wait_for(lambda: events() or None, timeout=40, what="the bridge event")
        join = event["onlineMeeting"]["joinUrl"]

        def page_to_anna():
            for m in list(sink.messages):
                msg = email.message_from_bytes(m.data, policy=email_policy.default)
                if msg["X-Mihub-Template"] == "page" and m.rcpt_tos == ["anna@northwind.example"]:
                    return msg
            return None

        page = wait_for(page_to_anna, timeout=40, what="Anna's page")
        assert join in page.get_body(("plain",)).get_content()
        r = requests.post(f"{base}/api/v1/incidents/{ref}/roles", headers=headers, timeout=10,
                          json={"role": "communications_owner", "person": "grace"})  # fmt: skip
        assert r.status_code == 200, r.text
        wait_for(
            lambda: "grace@northwind.example" in str(events()[0]["attendees"]),
            timeout=40,
            what="Grace invited to the bridge",
        )
        assert len(events()) == 1 and len(graph.event_posts) == 1
        detail = requests.get(f"{base}/api/v1/incidents/{ref}", headers=headers, timeout=10).json()
        assert detail["meeting_url"] == join
    finally:
        code = proc.stop()
        sink.stop()
        graph.stop()
    assert code == 0, proc.output[-3000:]
