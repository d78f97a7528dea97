"""Subscriptions end to end with real processes: `mihub run`, a real aiosmtpd sink, real HTTP.

Someone subscribes to Payroll by email, confirms the mailed link, gets the next stakeholder
update with RFC 8058 headers, unsubscribes with the one-click POST those headers name (no
cookie, no token but the link's) and does not get the update after that.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email import policy as email_policy

import pytest
import requests

from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.harness import create_token, hub_env, start_mihub, wait_for, wait_healthy
from tests.conftest import EXAMPLE_POLICY, ROOT

pytestmark = pytest.mark.e2e

KIM = "kim.lee@northwind.example"
EXECS = "exec-team@northwind.example"


def mails(sink, to: str, template: str) -> list:
    out = []
    for received in list(sink.messages):
        msg = message_from_bytes(received.data, policy=email_policy.default)
        if received.rcpt_tos == [to] and msg["X-Mihub-Template"] == template:
            out.append(msg)
    return out


def text(msg) -> str:
    return msg.get_body(("plain",)).get_content()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_subscribe_confirm_update_one_click_unsubscribe(tmp_path, backend):
    sink = SmtpSink().start()
    env, base = hub_env(
        tmp_path / "var", EXAMPLE_POLICY, backend,
        HUB_MAIL_TRANSPORT="smtp", HUB_SMTP_URL=sink.url, HUB_SECRET_KEY="e2e-subscriptions",
    )  # fmt: skip
    proc = start_mihub("run", env=env, cwd=ROOT)
    try:
        wait_healthy(base, proc, timeout=90)
        token = create_token("chloe", env=env, cwd=ROOT)
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        browser = requests.Session()  # no sign-in: the public form and links
        asked = browser.post(f"{base}/subscribe", data={"email": KIM, "target": "payroll"})
        assert asked.status_code == 202, asked.text
        wait_for(lambda: mails(sink, KIM, "subscribe-confirm"), timeout=30, what="confirm mail")
        (confirm,) = mails(sink, KIM, "subscribe-confirm")
        link = re.search(r"http://\S+/subscribe/confirm/\S+", text(confirm)).group(0)
        assert "Send the updates about Payroll" in browser.get(link, timeout=10).text
        assert "You are subscribed" in browser.post(link, timeout=10).text

        created = api.post(
            f"{base}/api/v1/incidents", timeout=10,
            json={"title": "Payroll is down", "services": ["payroll"], "impact": "outage"},
        ).json()  # fmt: skip
        ref = created["id"]
        posted = api.post(f"{base}/api/v1/incidents/{ref}/updates", json={"text": "Failover"})
        assert posted.status_code in (200, 201), posted.text
        wait_for(lambda: mails(sink, KIM, "stakeholder-update"), timeout=30, what="the update")
        (update,) = mails(sink, KIM, "stakeholder-update")
        assert "Failover" in text(update)
        assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = re.fullmatch(
            r"<(https?://[^>]+)>, <mailto:[^>]+>", update["List-Unsubscribe"].strip()
        )[1]
        assert url in text(update)
        # what a mail client does for one-click (RFC 8058 section 3.2): a POST, no cookies
        one_click = requests.post(
            url, data="List-Unsubscribe=One-Click", timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert one_click.status_code == 200 and "unsubscribed" in one_click.text

        api.post(f"{base}/api/v1/incidents/{ref}/updates", json={"text": "Database is back"})

        def second_reached_the_executives():
            return any(
                "Database is back" in text(m) for m in mails(sink, EXECS, "stakeholder-update")
            )

        wait_for(second_reached_the_executives, timeout=30, what="the second update")
        assert len(mails(sink, KIM, "stakeholder-update")) == 1  # unsubscribe stopped it
    finally:
        proc.stop()
        sink.stop()
