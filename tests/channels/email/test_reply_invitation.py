"""Who a mail invites to reply: the people whose reply may post (responders, the reporter), not
the audiences and subscribers a stakeholder update reaches, whose mail says where the news is."""

from __future__ import annotations

import shutil

from sqlalchemy import select

from hub.app.db import utcnow
from hub.app.models import Notification
from hub.app.templates import EXAMPLE_POLICY
from hub.channels.registry import load_channels
from hub.notifications.notify import materialize
from hub.policy.load import load_policy
from hub.subscriptions import service as subs
from tests.web_kit import payroll_outage_with_update

load_channels()  # the channels register their template kinds

INVITE = "Reply to this email (above the marker line) to add an update to"
READERS = "a reply to this email does not post one"


def sent(hub, template: str, recipient: str) -> dict:
    """The one mail of `template` to `recipient`, as the worker will send it."""
    with hub.db.session(write=False) as session:
        (row,) = session.scalars(
            select(Notification).where(
                Notification.template == template,
                Notification.channel == "email",
                Notification.recipient == recipient,
            )
        ).all()
    return materialize(row.payload, hub.settings)


def test_only_people_who_may_post_by_reply_are_invited_to(client, hub, api_caller):
    with hub.transaction() as session:
        subscriber, _ = subs.subscribe_person(
            session, hub.policy, "julia", "service:payroll", "email", "console", utcnow()
        )
    api = api_caller(client)
    ref = payroll_outage_with_update(api)
    _, doc = api("GET", f"/api/v1/incidents/{ref}")
    (mim,) = [r["person"] for r in doc["roles"] if r["role"] == "major_incident_manager"]
    base = hub.settings.base_url

    page = sent(hub, "page", hub.policy.people[mim].email)
    for part in ("text", "html"):
        assert f"{INVITE} {ref}." in page[part]
        assert READERS not in page[part]

    audience = sent(hub, "stakeholder-update", "exec-team@northwind.example")
    mine = sent(hub, "stakeholder-update", subscriber.address)
    for mail in (audience, mine):
        assert "Failover" in mail["text"]
        for part in ("text", "html"):
            assert INVITE not in mail[part]
            assert READERS in mail[part]
        assert f"Latest status: {base}/status" in mail["text"]
        assert f'href="{base}/status"' in mail["html"]
    assert "Unsubscribe: " in mine["text"] and "Unsubscribe" not in audience["text"]


def test_an_overridden_update_mail_may_ask_who_may_reply(tmp_path):
    folder = tmp_path / "pol"
    folder.mkdir()
    shutil.copy(EXAMPLE_POLICY, folder / "policy.yaml")
    body = folder / "templates" / "email" / "stakeholder-update" / "body.txt"
    body.parent.mkdir(parents=True)
    body.write_text(
        "{{ reply_marker }}\n\n{{ update.text if update else 'no news' }}\n"
        "{% if not recipient.may_reply %}Northwind readers: see the status page.{% endif %}\n"
        '{% include "_footer.txt" %}\n'
    )
    load_policy(folder / "policy.yaml")  # checked with a stakeholder's sample context


def test_a_message_to_an_audience_in_bcc_names_no_address(tmp_path):
    from hub.app.settings import load_settings
    from hub.channels.email.compose import ThreadInfo, render_batch_email
    from hub.policy.templates import sample_context

    settings = load_settings(
        env={},
        overrides={
            "HUB_SECRET_KEY": "k1",
            "HUB_MAIL_FROM": "Major Incident Hub <hub@northwind.example>",
            "HUB_DATA_DIR": str(tmp_path / "var"),
        },
    )
    # the recipient as hub/notifications/batches.py gives it: the audience, no address
    label = {"name": "it-staff", "email": None, "may_reply": False}
    mail = render_batch_email(
        "stakeholder-update",
        sample_context(recipient=label),
        bcc=["a@northwind.example", "b@northwind.example"],
        settings=settings,
        thread=ThreadInfo(42, "batch-key"),
    )
    for part in ("text", "html"):
        assert "Sent by the Major Incident Hub. Times are" in mail[part]
        assert "None" not in mail[part]
        assert READERS in mail[part]
