"""Escalation plans from the policy: pure tables, no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from hub.core.escalation import (
    DEFAULT_STEPS,
    PlannedStep,
    Target,
    plan_escalation,
    resolve_target,
    roster,
    steps_ahead,
    still_needed,
)
from hub.policy.model import EscalationStep

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIM, TL, CO = "major_incident_manager", "tech_lead", "communications_owner"


def _people(step: PlannedStep) -> list[tuple]:
    return [(t.person, t.role, t.position, t.audience) for t in step.targets]


def test_sev1_plan_every_step(example_policy):
    steps = plan_escalation(example_policy, "SEV1", ["payroll"], T0)
    assert [s.index for s in steps] == [0, 1, 2]
    assert [s.due_at - T0 for s in steps] == [
        timedelta(0),
        timedelta(minutes=5),
        timedelta(minutes=15),
    ]
    assert _people(steps[0]) == [
        ("anna", MIM, 1, None),
        ("elif", TL, 1, None),
        ("chloe", CO, 1, None),
    ]
    assert _people(steps[1]) == [("ben", MIM, 2, None), ("david", TL, 2, None)]
    assert _people(steps[2]) == [("julia", None, 1, None)]
    assert [s.unless for s in steps] == [None, "acknowledged", "acknowledged"]
    assert all(s.via == ("teams", "email") for s in steps)


def test_sev2_plan(example_policy):
    steps = plan_escalation(example_policy, "SEV2", ["vpn"], T0)
    assert [(s.index, s.due_at - T0) for s in steps] == [
        (0, timedelta(0)),
        (1, timedelta(minutes=15)),
    ]
    assert _people(steps[0]) == [("anna", MIM, 1, None), ("felix", TL, 1, None)]
    assert _people(steps[1]) == [("ben", MIM, 2, None)]


@pytest.mark.parametrize(
    ("services", "spec", "person"),
    [
        (["payroll"], "role:tech_lead", "elif"),  # the service's own list first
        (["payroll"], "role:tech_lead#2", "david"),
        (["erp"], "role:tech_lead#2", None),  # erp has one tech lead: #2 is vacant
        ([], "role:tech_lead", "felix"),  # no service: roles.tech_lead
        (["vpn", "payroll"], "role:tech_lead", "felix"),  # the first service with a tech lead
        (["unknown"], "role:tech_lead", "felix"),
        ([], "role:major_incident_manager#2", "ben"),
        ([], "role:major_incident_manager#3", None),
        ([], "role:communications_owner", "chloe"),
        ([], "person:julia", "julia"),
        ([], "person:nobody", None),
    ],
)
def test_resolve_target_positions(example_policy, services, spec, person):
    target = resolve_target(example_policy, spec, services)
    assert (target.person if target else None) == person
    if target and spec.startswith("role:"):
        assert target.position == (int(spec.split("#")[1]) if "#" in spec else 1)


def test_audience_and_unknown_targets(example_policy):
    assert resolve_target(example_policy, "audience:executives", []) == Target(
        person=None, audience="executives"
    )
    assert resolve_target(example_policy, "audience:nobody", []) is None
    with pytest.raises(ValueError, match="unknown escalation target"):
        resolve_target(example_policy, "team:ops", [])


def test_roster_falls_back_to_roles(example_policy):
    assert roster(example_policy, TL, ["identity"]) == ("grace", "felix")
    assert roster(example_policy, TL, []) == ("felix",)
    assert roster(example_policy, MIM, ["identity"]) == ("anna", "ben")


def test_audience_step_and_duplicates_are_dropped(example_policy):
    policy = dataclasses.replace(
        example_policy,
        escalation={
            "SEV1": (
                EscalationStep(
                    after=timedelta(0),
                    notify=("role:major_incident_manager", "person:anna", "audience:executives"),
                ),
                EscalationStep(
                    after=timedelta(minutes=30),
                    notify=("audience:it-staff",),
                    via=("email",),
                    unless="acknowledged",
                ),
            )
        },
    )
    steps = plan_escalation(policy, "SEV1", [], T0)
    assert _people(steps[0]) == [("anna", MIM, 1, None), (None, None, 1, "executives")]
    assert _people(steps[1]) == [(None, None, 1, "it-staff")]
    assert steps[1].via == ("email",)


def test_severity_without_escalation_still_pages(example_policy):
    policy = dataclasses.replace(example_policy, escalation={})
    steps = plan_escalation(policy, "SEV1", ["payroll"], T0)
    assert len(steps) == len(DEFAULT_STEPS) == 1
    assert _people(steps[0]) == [("anna", MIM, 1, None), ("elif", TL, 1, None)]


@pytest.mark.parametrize(
    ("new", "at", "ahead"),
    [
        ("SEV2", timedelta(minutes=6), [(1, timedelta(minutes=15))]),  # SEV2's 15m step is ahead
        ("SEV2", timedelta(minutes=20), []),
        ("SEV1", timedelta(minutes=6), [(2, timedelta(minutes=15))]),  # 5m step has passed
        ("SEV1", timedelta(minutes=1), [(1, timedelta(minutes=5)), (2, timedelta(minutes=15))]),
    ],
)
def test_replan_keeps_only_steps_ahead(example_policy, new, at, ahead):
    steps = plan_escalation(example_policy, new, ["payroll"], T0)
    assert [(s.index, s.due_at - T0) for s in steps_ahead(steps, T0 + at)] == ahead


def test_frozen_plan_roundtrips_as_json(example_policy):
    import json

    steps = plan_escalation(example_policy, "SEV1", ["payroll"], T0)
    again = [PlannedStep.from_json(json.loads(json.dumps(s.to_json()))) for s in steps]
    assert again == steps


@pytest.mark.parametrize(
    ("acked", "left"),
    [
        (set(), ["ben", "david"]),
        ({MIM}, ["david"]),  # the tech lead has not acknowledged: escalate that role only
        ({TL}, ["ben"]),
        ({MIM, TL}, []),
        ({CO}, ["ben", "david"]),  # the Communications Owner's ack does not stop the MIM's
    ],
)
def test_still_needed_per_role(example_policy, acked, left):
    step = plan_escalation(example_policy, "SEV1", ["payroll"], T0)[1]
    assert [t.person for t in still_needed(step, acked)] == left


@pytest.mark.parametrize(("acked", "left"), [(set(), ["julia"]), ({TL}, ["julia"]), ({MIM}, [])])
def test_person_targets_stop_on_mim_ack(example_policy, acked, left):
    step = plan_escalation(example_policy, "SEV1", ["payroll"], T0)[2]
    assert [t.person for t in still_needed(step, acked)] == left


def test_step_without_unless_always_pages(example_policy):
    step = plan_escalation(example_policy, "SEV1", ["payroll"], T0)[0]
    assert still_needed(step, {MIM, TL, CO}) == step.targets
