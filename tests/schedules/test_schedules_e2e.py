"""On-call schedules end to end, with real processes: `mihub run` → a real SMTP sink.

The policy's night layer covers the hours around the moment the test runs (a real process
reads the real clock), so a declaration now pages the night person; an override created
through the API changes who the next declaration pages; the escalation step
`schedule:mim#next` pages the next person on the timeline. Who that is comes from the pure
core (`hub.core.schedules`) over the same policy, at the declaration's time.
"""

from __future__ import annotations

import email
import os
from datetime import UTC, datetime, timedelta
from email import policy as email_policy

import pytest
import requests

from hub.core.schedules import next_shift, oncall_at
from hub.demo import DEMO_POLICY
from hub.policy.load import parse_policy
from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.harness import create_token, free_port, start_mihub, wait_for, wait_healthy
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.spread]


def policy_text(now: datetime) -> str:
    """The demo policy with a `mim` schedule whose night layer covers `now` (UTC) ± an hour."""
    begin, end = (now - timedelta(hours=1)), (now + timedelta(hours=2))
    schedules = f"""
schedules:
  mim:
    timezone: UTC
    layers:
      - {{rotation: weekly, handoff: "mon 09:00", people: [anna, ben, chloe], start: 2026-01-05}}
      - {{rotation: daily, handoff: "{begin:%H:%M}", hours: "{begin:%H:%M}-{end:%H:%M}", people: [grace, david], start: 2026-01-05}}
"""
    return (
        DEMO_POLICY.read_text()
        .replace(
            "major_incident_manager: [anna, ben]", "major_incident_manager: [schedule:mim, ben]"
        )
        .replace('"https://northwind.example/workflows/executives"', '"$env:TEST_NO_WEBHOOK"')
        .replace('"https://northwind.example/workflows/oncall"', '"$env:TEST_NO_WEBHOOK"')
        .replace(
            '- {after: 15s, unless: acknowledged, notify: ["role:major_incident_manager#2"], via: [teams, email]}',
            '- {after: 3s, unless: acknowledged, notify: ["schedule:mim#next"], via: [email]}',
        )
        .replace("\nroles:", schedules + "\nroles:", 1)
    )


def _mail(sink) -> list[tuple[str, str, str]]:
    out = []
    for m in list(sink.messages):
        msg = email.message_from_bytes(m.data, policy=email_policy.default)
        out.append((m.rcpt_tos[0], msg["X-Mihub-Template"], msg["X-Mihub-Incident"]))
    return out


def test_schedules_decide_who_is_paged(tmp_path, backend):
    now = datetime.now(UTC)
    text = policy_text(now)
    assert "schedule:mim#next" in text and "[schedule:mim, ben]" in text
    mim = parse_policy(text).schedules["mim"]
    night = oncall_at(mim, now)
    assert night in ("grace", "david")  # the night layer covers the declaration
    then = next_shift(mim, now).person  # whoever has the weekly shift
    assert then in ("anna", "ben", "chloe")
    sink = SmtpSink().start()
    (tmp_path / "policy.yaml").write_text(text)
    port = free_port()
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_HTTP=f"127.0.0.1:{port}",
        HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
        HUB_POLICY=str(tmp_path / "policy.yaml"),
        HUB_DATABASE_URL=backend["database_url"],
        HUB_QUEUE_URL=backend["queue_url"],
        HUB_MAIL_TRANSPORT="smtp",
        HUB_SMTP_URL=sink.url,
        HUB_TEAMS_TRANSPORT="sink",
    )
    base = f"http://127.0.0.1:{port}"
    proc = start_mihub("run", env=env, cwd=ROOT)
    try:
        wait_healthy(base, proc, timeout=90)
        taker = next(p for p in ("anna", "ben", "chloe") if p != then)
        tokens = {p: create_token(p, env=env, cwd=ROOT) for p in {"felix", taker}}

        def api(person, path, body):
            r = requests.post(f"{base}/api/v1{path}", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {tokens[person]}"})  # fmt: skip
            assert r.status_code in (200, 201), r.text
            return r.json()

        def mailed(rcpt, template, ref):
            return (f"{rcpt}@northwind.example", template, ref) in _mail(sink)

        body = {"title": "Payroll is down", "services": ["payroll"], "impact": "outage",
                "correlate": False}  # fmt: skip
        first = api("felix", "/incidents", body)["id"]
        wait_for(lambda: mailed(night, "page", first), timeout=40, what="the night person's page")
        wait_for(lambda: mailed(then, "escalation", first), timeout=40, what="schedule:mim#next")
        assert not mailed(then, "page", first)

        start = datetime.now(UTC) - timedelta(minutes=1)
        override = api(taker, "/schedules/mim/overrides", {
            "person": taker, "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
        })  # fmt: skip
        assert override["state"] == "active"
        second = api("felix", "/incidents", {**body, "title": "Payroll down again"})["id"]
        wait_for(lambda: mailed(taker, "page", second), timeout=40, what="the override's page")
        assert not mailed(night, "page", second)
        shown = requests.get(f"{base}/api/v1/schedules/mim", timeout=10,
                             headers={"Authorization": f"Bearer {tokens['felix']}"}).json()  # fmt: skip
        assert shown["oncall_now"] == taker
    finally:
        code = proc.stop()
        sink.stop()
    assert code == 0, proc.output[-3000:]
