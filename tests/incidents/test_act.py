"""act(): every channel locks, mobilises, checks the permission and runs the operation there."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.app.errors import Forbidden
from hub.core.classify import Report
from hub.incidents import act as act_module
from hub.incidents import operations as ops
from hub.incidents.act import act
from hub.incidents.records import active_roles, get_incident
from hub.incidents.reports import create_incident
from hub.intake import commands
from hub.intake.commands import Command
from hub.intake.email import effect
from hub.intake.email.body import Body
from hub.intake.teams import responders
from hub.intake.teams.context import Ctx
from hub.intake.teams.people import Sender
from tests.web_kit import post, sign_in
from tests.workflow_kit import T0

REPORT = Report(
    title="Payroll is down", services=("payroll",), impact="outage", source="api", reporter="ivan"
)


@pytest.fixture
def lazy_hub(hub):
    """A hub whose wake-ups are only recorded: the worker has not mobilised anything."""
    hub.enqueued = []
    hub.enqueue = hub.enqueued.extend
    return hub


def _declare(hub) -> int:
    with hub.transaction() as session:
        incident, created = create_incident(session, hub.policy, REPORT, actor="ivan", now=T0)
        assert created and incident.major and incident.state == "declared"
        return incident.id


def _outsider(policy) -> str:
    """A person of the policy with no role on duty, no service to lead, not an admin."""
    busy = {p for people in policy.roles.values() for p in people}
    busy |= {p for s in policy.services.values() for p in s.tech_lead}
    return next(k for k, p in policy.people.items() if k not in busy and not p.admin)


def _update(session, policy, who, now):
    return lambda incident: ops.post_update(
        session, policy, incident, "Failing over", actor=who, now=now
    )


def test_an_operation_is_refused_to_a_person_without_the_role(lazy_hub):
    iid = _declare(lazy_hub)
    outsider = _outsider(lazy_hub.policy)
    now = T0 + timedelta(seconds=5)
    with pytest.raises(Forbidden) as refused, lazy_hub.transaction() as session:
        act(session, lazy_hub.policy, iid, outsider, "update", lambda i: 1 / 0, now=now)
    assert refused.value.status == 403
    assert refused.value.message == (
        f"only the Major Incident Manager or Communications Owner or Technical Lead of INC-{iid} "
        "(or on duty, or an administrator) may update here"
    )
    with lazy_hub.db.session(write=False) as session:
        kinds = [e.kind for e in get_incident(session, iid).timeline]
    assert "update" not in kinds


def test_a_pending_mobilisation_runs_before_the_check(lazy_hub):
    """Acknowledging is for role holders: the roster's MIM holds the role only once the
    declaration is mobilised, which act() does first (the worker has not run yet)."""
    iid = _declare(lazy_hub)
    mim = lazy_hub.policy.roles["major_incident_manager"][0]
    with lazy_hub.db.session(write=False) as session:
        assert active_roles(get_incident(session, iid)) == []  # nobody holds anything yet
    now = T0 + timedelta(seconds=1)
    with lazy_hub.transaction() as session:
        acked = act(
            session,
            lazy_hub.policy,
            iid,
            mim,
            "acknowledge",
            lambda i: ops.acknowledge(session, lazy_hub.policy, i, actor=mim, now=now),
            now=now,
        )
    assert acked == ["major_incident_manager"]
    with lazy_hub.db.session(write=False) as session:
        incident = get_incident(session, iid)
        assert incident.state == "mobilised"
        assert {r.role for r in active_roles(incident)} >= {"major_incident_manager"}


def test_a_refusal_given_by_the_channel_replaces_the_rules_text(lazy_hub):
    iid = _declare(lazy_hub)
    outsider = _outsider(lazy_hub.policy)
    with pytest.raises(Forbidden, match="not you"), lazy_hub.transaction() as session:
        act(
            session,
            lazy_hub.policy,
            iid,
            outsider,
            "resolve",
            lambda i: None,
            now=T0,
            refusal=lambda i: Forbidden(f"{i.ref}: not you"),
        )


@pytest.fixture
def calls(monkeypatch):
    """Every act() call, by the module that made it: (actor, action)."""
    seen: list[tuple[str, str, str]] = []
    real = act_module.act

    def recording(module):
        def wrapper(session, policy, ref, actor, action, operation, **kwargs):
            seen.append((module, actor, action))
            return real(session, policy, ref, actor, action, operation, **kwargs)

        return wrapper

    for module in ("hub.http.api", "hub.web.room", "hub.intake.teams.responders"):
        monkeypatch.setattr(f"{module}.act", recording(module))
    monkeypatch.setattr(commands, "act", recording("hub.intake.commands"))
    return seen


def test_the_api_acts_through_act(hub, client, make_token, calls):
    iid = _declare(hub)
    token = make_token("anna")
    answer = client.post(
        f"/api/v1/incidents/INC-{iid}/updates",
        json={"text": "Failing over"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert calls == [("hub.http.api", "anna", "update")]


def test_the_console_acts_through_act(hub, client, calls):
    iid = _declare(hub)
    sign_in(client, hub, "anna")
    answer = post(client, f"/incidents/INC-{iid}/resolve", {"summary": "Failed over"})
    assert answer.status_code == 303
    assert calls == [("hub.web.room", "anna", "resolve")]
    with hub.db.session(write=False) as session:
        assert get_incident(session, iid).state == "resolved"


def test_teams_acts_through_act_and_keeps_its_refusal(hub, calls):
    iid = _declare(hub)
    outsider = hub.policy.people[_outsider(hub.policy)]
    with hub.transaction() as session:
        ctx = Ctx(
            session=session,
            policy=hub.policy,
            base_url="https://hub.example",
            sender=Sender(None, None, outsider.name, None),
            person=outsider,
            channel="teams",
            conversation=None,
            now=T0 + timedelta(seconds=5),
        )
        with pytest.raises(Forbidden) as refused:
            responders.do_update(ctx, Command("update", ref=f"INC-{iid}", text="hello"))
    assert refused.value.message.startswith("Only the Major Incident Manager, ")
    assert "(Major Incident Manager Anna Schmidt" in refused.value.message
    assert calls == [("hub.intake.commands", outsider.key, "update")]


def test_an_email_reply_acts_through_act(hub, calls):
    iid = _declare(hub)
    anna = hub.policy.people["anna"]
    with hub.transaction() as session:
        incident = get_incident(session, iid, lock=True)
        body = Body(text="UPDATE: failing over", full="UPDATE: failing over", how="plain")
        done = effect.reply(
            session, hub.policy, incident, anna.email, body, 1, T0 + timedelta(seconds=5)
        )
    assert done.text == f"posted an update to INC-{iid}"
    assert calls == [("hub.intake.commands", "anna", "update")]
