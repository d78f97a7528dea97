"""Issue 3 end to end, with real processes: `mihub run` → real SMTP sink and fake Teams webhooks.

Short policy clocks: escalation step 2 after 4 s unless acknowledged, first stakeholder update
due after 6 s, then every 8 s. Two incidents in one hub: INC-1 nobody acknowledges, INC-2 the
Major Incident Manager acknowledges at once.
"""

from __future__ import annotations

import email
import time
from email import policy as email_policy

import pytest
import requests

from hub.demo import DEMO_POLICY
from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.fakes.teams import FakeTeams
from hub.testing.harness import create_token, hub_env, start_mihub, wait_for, wait_healthy
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.spread]

POLICY = (
    DEMO_POLICY.read_text()
    .replace('"https://northwind.example/workflows/executives"', '"$env:TEST_EXEC_WEBHOOK"')
    .replace('"https://northwind.example/workflows/oncall"', '"$env:TEST_ONCALL_WEBHOOK"')
    .replace("ack_within: 40s", "ack_within: 30s")
    .replace("first_update_within: 20s", "first_update_within: 6s")
    .replace("update_every: 30s", "update_every: 8s")
    .replace("after: 15s", "after: 4s")
)


def _messages(sink):
    out = []
    for m in list(sink.messages):
        msg = email.message_from_bytes(m.data, policy=email_policy.default)
        out.append((m.rcpt_tos[0], msg["X-Mihub-Template"], msg["X-Mihub-Incident"], msg))
    return out


def test_pages_escalation_updates_reach_real_peers(tmp_path, backend):
    sink = SmtpSink().start()
    teams = FakeTeams().start()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env, base = hub_env(
        tmp_path / "var",
        policy,
        backend,
        HUB_MAIL_TRANSPORT="smtp",
        HUB_SMTP_URL=sink.url,
        HUB_TEAMS_TRANSPORT="webhook",
        TEST_EXEC_WEBHOOK=teams.webhook_url("executives"),
        TEST_ONCALL_WEBHOOK=teams.webhook_url("oncall"),
    )
    proc = start_mihub("run", env=env, cwd=ROOT)
    try:
        wait_healthy(base, proc, timeout=90)
        tokens = {p: create_token(p, env=env, cwd=ROOT) for p in ("anna", "chloe")}

        def api(person, path, body=None):
            r = requests.post(
                f"{base}/api/v1{path}",
                json=body or {},
                timeout=10,
                headers={"Authorization": f"Bearer {tokens[person]}"},
            )
            assert r.status_code in (200, 201), r.text
            return r.json()

        body = {
            "title": "Payroll is down",
            "services": ["payroll"],
            "impact": "outage",
            "correlate": False,
        }
        inc1 = api("chloe", "/incidents", body)
        inc2 = api("chloe", "/incidents", {**body, "title": "Payroll down again"})
        assert inc1["major"] and inc2["major"]
        api("anna", f"/incidents/{inc2['id']}/acknowledge")

        def got(rcpt, template, ref):
            return any(m[:3] == (rcpt, template, ref) for m in _messages(sink))

        # step 0 pages and the first stakeholder notice, for both incidents
        for ref in (inc1["id"], inc2["id"]):
            wait_for(
                lambda ref=ref: got("anna@northwind.example", "page", ref), timeout=30, what="page"
            )
            wait_for(
                lambda ref=ref: got("felix@northwind.example", "page", ref), timeout=30, what="page"
            )
            wait_for(
                lambda ref=ref: got("exec@northwind.example", "incident-declared", ref),
                timeout=30,
                what="stakeholder notice",
            )
        # escalation to the second MIM only where nobody acknowledged
        wait_for(
            lambda: got("ben@northwind.example", "escalation", inc1["id"]),
            timeout=30,
            what="escalation of the unacknowledged incident",
        )
        # "no change" update when none was posted
        wait_for(
            lambda: got("exec@northwind.example", "no-change-update", inc1["id"]),
            timeout=40,
            what="the no-change update",
        )
        time.sleep(2)
        assert not got("ben@northwind.example", "escalation", inc2["id"]), (
            "an acknowledged incident escalated"
        )
        # Teams: pages with an @mention on the on-call webhook, notices to executives
        oncall = [d.card for d in teams.deliveries("webhook", "oncall") if d.status == 202]
        assert any("<at>Anna Berg</at>" in str(c) for c in oncall)
        assert teams.deliveries("webhook", "executives")
        assert not teams.failed_flows()
        # every message threads on the incident and carries the loop-safety headers
        for _rcpt, _tpl, ref, msg in _messages(sink):
            assert msg["Subject"].startswith(f"[{ref}]")
            assert msg["Auto-Submitted"] in ("auto-generated", "auto-replied")
            assert msg["X-Auto-Response-Suppress"] == "OOF, AutoReply"
            assert msg["In-Reply-To"] and msg["Message-ID"]
        # the API shows the deliveries as sent, and nothing twice
        doc = requests.get(
            f"{base}/api/v1/incidents/{inc1['id']}",
            timeout=10,
            headers={"Authorization": f"Bearer {tokens['anna']}"},
        ).json()
        assert any(n["status"] == "sent" for n in doc["notifications"])
        ids = [m[3]["Message-ID"] for m in _messages(sink)]
        assert len(ids) == len(set(ids)), "a message was delivered twice"
    finally:
        code = proc.stop()
        sink.stop()
        teams.stop()
    assert code == 0, proc.output[-3000:]
