"""Entra group audiences: members expanded through the Graph fake (transitive, paged, cached,
refreshed), or one message to the group's address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hub import create_app
from hub.app.db import utcnow
from hub.app.models import EntraGroup, Notification
from hub.channels.entra_groups import GraphGroups
from hub.channels.identity import clear_token_sources
from hub.policy.load import parse_policy
from hub.subscriptions.groups import refresh_stale, stale_groups
from hub.testing.fakes.groups import user
from hub.testing.fakes.microsoft import FakeMicrosoft
from tests.conftest import EXAMPLE_POLICY, build_hub

pytestmark = pytest.mark.usefixtures("no_internet")

OPS = "0f3c6a19-5d8e-4f72-9a1b-4e2c7d5a9d01"  # expanded: 240 people, some in a nested group
NIGHT = "0f3c6a19-5d8e-4f72-9a1b-4e2c7d5a9d02"  # nested in OPS
EXECS = "0f3c6a19-5d8e-4f72-9a1b-4e2c7d5a9d03"  # not expanded: its address
AUDIENCES = f"""
  ops-floor:
    email: ["group:{OPS}"]
    expand: true
  board:
    email: ["group:{EXECS}", "group:leaders@northwind.example"]
"""


@pytest.fixture
def graph():
    fake = FakeMicrosoft(tenant="t1", clients={"c1": "s1"}).start()
    people = [user(f"op{n}@northwind.example", f"Operator {n}") for n in range(200)]
    night = [user(f"night{n}@northwind.example", mail=n % 2 == 0) for n in range(40)]
    device = {"@odata.type": "#microsoft.graph.device", "id": "dev-1", "displayName": "Scanner"}
    fake.add_group(NIGHT, None, members=[*night, people[0]])  # people[0] in both: listed once
    fake.add_group(OPS, "ops-floor@northwind.example", members=[*people, device, NIGHT])
    fake.add_group(EXECS, "exec-board@northwind.example", members=[people[1]])
    yield fake
    fake.stop()
    clear_token_sources()


@pytest.fixture
def ghub(backend, graph, tmp_path):
    text = EXAMPLE_POLICY.read_text().replace("\naudiences:\n", "\naudiences:" + AUDIENCES, 1)
    text = text.replace(
        "notify: [executives, it-staff, service-desk, all-staff]",
        "notify: [executives, ops-floor, board]",
    )
    policy = parse_policy(text, env={})
    (tmp_path / "policy.yaml").write_text(text)
    the_hub = build_hub(
        backend, policy, HUB_POLICY=str(tmp_path / "policy.yaml"), HUB_AUTHORITY_HOST=graph.url, HUB_GRAPH_API=f"{graph.url}/v1.0",
        HUB_GRAPH_TENANT_ID="t1", HUB_GRAPH_CLIENT_ID="c1", HUB_GRAPH_CLIENT_SECRET="s1",
    )  # fmt: skip
    yield the_hub
    the_hub.db.dispose()


def test_transitive_members_are_paged_and_flattened(ghub, graph):
    client = GraphGroups(ghub.settings)
    members = client.members(OPS)
    addresses = {m["email"] for m in members}
    # 200 people + 40 night staff (half with only a UPN), the device and the nested group left out
    assert len(members) == len(addresses) == 240
    assert "night1@northwind.example" in addresses and "op0@northwind.example" in addresses
    pages = [p for p in graph.group_requests if p.endswith(f"{OPS}/transitiveMembers")]
    assert len(pages) == 1  # one page of up to 999 ($top) holds 242 directory objects
    assert client.find("exec-board@northwind.example")["id"] == EXECS


def test_small_pages_follow_next_link(ghub, graph, monkeypatch):
    monkeypatch.setattr("hub.testing.fakes.groups.MAX_PAGE", 50)
    members = GraphGroups(ghub.settings).members(OPS)
    assert len(members) == 240
    pages = [p for p in graph.group_requests if p.endswith(f"{OPS}/transitiveMembers")]
    assert len(pages) == 5  # 242 objects in pages of 50, linked by @odata.nextLink


def test_an_update_reaches_each_member_of_an_expanded_group(ghub, graph, api_caller):
    api = api_caller(create_app({"TESTING": True}, hub=ghub).test_client())
    status, body = api(
        "POST", "/api/v1/incidents",
        json={"title": "Payroll is down", "services": ["payroll"], "impact": "outage"},
    )  # fmt: skip
    assert status == 201 and body["severity"] == "SEV1", body
    with ghub.db.session(write=False) as session:
        told = {
            n.recipient
            for n in session.scalars(
                select(Notification).where(Notification.template == "incident-declared")
            )
        }
        cached = session.get(EntraGroup, OPS)
    assert {f"op{n}@northwind.example" for n in range(200)} <= told
    assert {f"night{n}@northwind.example" for n in range(40)} <= told
    assert "ops-floor@northwind.example" not in told  # expanded: people, not the list
    # not expanded: the group's address (looked up for an object id), and a named address as is
    assert {"exec-board@northwind.example", "leaders@northwind.example"} <= told
    assert "op1@northwind.example" in told and len(cached.members) == 240
    asked = len(graph.group_requests)
    status, _ = api("POST", f"/api/v1/incidents/{body['id']}/updates", json={"text": "Failover"})
    assert status in (200, 201)
    assert len(graph.group_requests) == asked  # the next notice used the cache
    with ghub.db.session(write=False) as session:
        updates = session.scalars(
            select(Notification).where(Notification.template == "stakeholder-update")
        ).all()
    assert len({n.recipient for n in updates if n.recipient.startswith(("op", "night"))}) == 240


def test_groups_are_refreshed_daily(ghub, graph):
    now = utcnow()
    with ghub.db.session(write=False) as session:
        assert set(stale_groups(session, ghub.policy, ghub.settings, now)) == {
            OPS,
            EXECS,
            "leaders@northwind.example",
        }
    assert refresh_stale(ghub, now) == 3
    graph.groups[OPS.lower()]["members"].append(user("new.hire@northwind.example"))
    # fresh groups wait; the one Graph did not find is asked again at every run
    assert refresh_stale(ghub, now + timedelta(hours=23)) == 1
    assert refresh_stale(ghub, now + timedelta(hours=25)) == 3
    with ghub.db.session(write=False) as session:
        row = session.get(EntraGroup, OPS)
        assert len(row.members) == 241 and row.error is None
        unknown = session.get(EntraGroup, "leaders@northwind.example")
        assert "no Entra group has the address" in unknown.error  # kept, with the reason
