"""Outgoing channels are one registration each: a channel defined here pages people for real."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from workflow_kit import T0, act, declare, fire_due, minutes, notes

from hub.app.context import Hub
from hub.app.models import Incident, Notification
from hub.channels import registry
from hub.channels.base import Channel, Preview, Sent, render_spec
from hub.incidents import operations as ops
from hub.notifications import delivery
from hub.notifications.notices import Recipient
from hub.policy.load import PolicyError, load_policy
from hub.web.preview import update_preview
from tests.conftest import EXAMPLE_POLICY, record_wakeups


class MemoryTransport:
    """Keeps every message it is given."""

    def __init__(self):
        self.sent: list[dict] = []

    def send(self, message: dict) -> Sent:
        self.sent.append(message)
        return Sent(f"memory-{len(self.sent)}", "kept")


class MemoryChannel(Channel):
    """Every person is reachable by their key; audiences are not on this channel."""

    name = "memory"
    kinds = ("memory",)
    transport = MemoryTransport()

    def person_recipients(self, policy, key, person):
        return [Recipient("memory", key, key, person.name)]

    def audience_recipients(self, policy, key, audience):
        return []

    def route(self, row, recipient, context, prepared, policy, settings):
        row.channel, row.recipient = "memory", recipient.address
        row.payload = render_spec("memory", row.template, context, to=recipient.address)
        return True

    def render(self, spec, settings):
        incident = spec["context"]["incident"]
        return {"to": spec["to"], "incident": incident["id"], "text": incident["title"]}

    def make_transport(self, settings, kind):
        return self.transport


@pytest.fixture
def memory_channel():
    """The memory channel, registered for one test."""
    registry.register(MemoryChannel)
    MemoryChannel.transport = MemoryTransport()
    yield registry.get("memory")
    registry.unregister("memory")
    delivery.use_transport("memory", None)


class StakeholderMemoryChannel(MemoryChannel):
    """The memory channel that also reaches each audience (as `audience:KEY`) and draws its
    notice for the update preview."""

    label = "Memory"
    count_noun = ("memory slot", "memory slots")

    def audience_recipients(self, policy, key, audience):
        return [Recipient("memory", f"audience:{key}", None, key)]

    def preview(self, template, context, recipients, settings):
        return Preview("text", f"{template}: {context['update']['text']}")


@pytest.fixture
def stakeholder_memory():
    """The stakeholder memory channel, registered for one test."""
    registry.register(StakeholderMemoryChannel)
    StakeholderMemoryChannel.transport = MemoryTransport()
    yield registry.get("memory")
    registry.unregister("memory")
    delivery.use_transport("memory", None)


def _policy_paging_by_memory(tmp_path):
    """The example policy with SEV1's first escalation step paging by the memory channel."""
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    first_step = "role:communications_owner], via: [teams, email]}"
    assert first_step in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(first_step, "role:communications_owner], via: [memory]}"))
    return path


def test_the_registry_lists_email_and_teams():
    assert {"email", "teams"} <= set(registry.channel_names())
    assert registry.for_kind("bot") is registry.get("teams")


def test_the_registry_refuses_a_name_twice(memory_channel):
    class Impostor(MemoryChannel):
        kinds = ("impostor",)

    with pytest.raises(ValueError, match="'memory'"):
        registry.register(Impostor)
    Impostor.name = "email"
    with pytest.raises(ValueError, match="'email'"):
        registry.register(Impostor)
    assert registry.get("email").kinds == ("email",)


def test_the_policy_names_only_registered_channels(tmp_path):
    with pytest.raises(PolicyError, match="unknown channel 'memory'"):
        load_policy(_policy_paging_by_memory(tmp_path), env={})


def test_a_page_goes_out_through_a_channel_registered_here(hub, memory_channel, tmp_path):
    policy = load_policy(_policy_paging_by_memory(tmp_path), env={})
    paging = Hub(hub.settings, policy=policy, db=hub.db)
    record_wakeups(paging)
    incident_id = declare(paging)
    with paging.db.session(write=False) as session:
        incident = session.get(Incident, incident_id)
        assert incident.severity == "SEV1"
        ref = incident.ref
        rows = session.scalars(
            select(Notification).where(
                Notification.incident_id == incident_id, Notification.channel == "memory"
            )
        ).all()
        ids = [r.id for r in rows]
        paged = {r.recipient for r in rows}
    assert paged == {"anna", "elif", "chloe"}  # MIM, payroll's tech lead, communications

    outcomes = delivery.deliver_rows(paging, ids, T0)

    assert set(outcomes.values()) == {"sent"}
    sent = memory_channel.transport.sent
    assert sorted(m["to"] for m in sent) == sorted(paged)
    assert {m["incident"] for m in sent} == {ref}
    with paging.db.session(write=False) as session:
        statuses = {session.get(Notification, i).status for i in ids}
    assert statuses == {"sent"}


def test_reminders_and_the_resolved_notice_go_out_on_a_channel_registered_here(
    wired, memory_channel
):
    iid = declare(wired)
    ref = f"INC-{iid}"
    assert fire_due(wired, T0 + minutes(12))[f"update-reminder:{ref}:1"] == "fired"
    reminder = notes(wired, iid, template="update-reminder")
    assert sorted((n.channel, n.recipient) for n in reminder) == [
        ("email", "chloe.martin@northwind.example"),
        ("memory", "chloe"),
        ("teams", "chloe"),
    ]

    act(wired, iid, ops.resolve, "Rolled back", actor="anna", now=T0 + minutes(30))
    resolved = notes(wired, iid, template="resolved")
    holders = {n.recipient for n in resolved if n.channel == "memory"}
    assert holders == {"anna", "elif", "chloe", "david"}  # a copy for each role holder
    # Teams responders read the resolved notice on the pages webhook: no copy per person.
    assert not [n for n in resolved if n.channel in ("teams", "bot") and n.recipient in holders]

    ids = [n.id for n in reminder + resolved if n.channel == "memory"]
    assert set(delivery.deliver_rows(wired, ids, T0 + minutes(31)).values()) == {"sent"}
    assert {m["to"] for m in memory_channel.transport.sent} == {"chloe"} | holders


def test_stakeholders_and_the_update_preview_reach_a_channel_registered_here(
    wired, stakeholder_memory
):
    iid = declare(wired)
    declared = notes(wired, iid, template="incident-declared", channel="memory")
    with wired.db.session(write=False) as session:
        incident = session.get(Incident, iid)
        audiences = incident.plan["communication"]["audiences"]
        preview = update_preview(
            wired.settings, wired.policy, incident, "Rolling back", "anna", T0 + minutes(5)
        )
    assert {n.recipient for n in declared} == {f"audience:{a}" for a in audiences}
    assert preview.problem is None
    shown = [(c.label, c.count, c.noun, c.shows) for c in preview.channels]
    assert [s[0] for s in shown] == ["Email", "Microsoft Teams", "Memory"]
    assert shown[2] == ("Memory", len(audiences), "memory slots", "text")
    assert preview.channels[2].text == "stakeholder-update: Rolling back"
    assert preview.channels[0].shows == "mail" and "Rolling back" in preview.channels[0].text
    assert preview.channels[1].shows == "card" and "ac-card" in preview.channels[1].card
