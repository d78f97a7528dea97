"""Who may do what: the pure rules of hub/core/permissions.py as tables over plain objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hub.core import permissions as p
from hub.core.permissions import COMMS, MIM, PM, TECH
from hub.policy.model import Person, Policy, Service

POLICY = Policy(
    timezone="UTC",
    people={
        key: Person(key=key, name=key.title(), admin=key == "root")
        for key in ("anna", "ben", "cora", "dev", "elif", "finn", "gus", "hana", "root", "rita")
    },
    services={"payroll": Service(key="payroll", name="Payroll", tech_lead=("elif",))},
    roles={MIM: ("anna", "ben"), TECH: ("dev",), COMMS: ("cora",), PM: ("gus",)},
    audiences={},
    severities={},
    major_criteria=(),
    default_severity="SEV3",
    escalation={},
)


@dataclass
class Role:
    role: str
    person: str
    active: bool = True


@dataclass
class Entry:
    kind: str
    data: dict | None = None


@dataclass
class Report:
    reporter: str | None


@dataclass
class Incident:
    ref: str = "INC-7"
    state: str = "mobilised"
    reporter: str | None = "rita"
    services: tuple[str, ...] = ("payroll",)
    roles: list[Role] = field(default_factory=list)
    timeline: list[Entry] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)


def staffed(**kw) -> Incident:
    """Finn holds MIM and Hana PM; Rita reported it; the roster and payroll's lead are apart."""
    roles = [Role(MIM, "finn"), Role(PM, "hana"), Role(TECH, "dev", active=False)]
    return Incident(roles=roles, reports=[Report("rita")], **kw)


def paged(person: str, role: str = MIM, *after: Entry) -> Incident:
    return staffed(timeline=[Entry("paged", {"paged": [[person, role]]}), *after])


CAN = [
    # (person, action, incident, expected)
    ("finn", "assign", staffed(), True),  # holds MIM
    ("finn", "resolve", staffed(), True),
    ("finn", "close", staffed(), True),  # close follows resolve
    ("finn", "merge", staffed(), True),  # merge follows classify
    ("hana", "update", staffed(), False),  # PM does not post updates
    ("hana", "review_submit", staffed(), True),
    ("hana", "review_approve", staffed(), False),
    ("anna", "classify", staffed(), True),  # MIM on duty: the roster counts
    ("cora", "update", staffed(), True),  # Comms on duty
    ("cora", "assign", staffed(), False),
    ("dev", "resolve", staffed(), True),  # tech lead on duty (the released role does not count)
    ("elif", "resolve", staffed(), True),  # leads payroll, one of the incident's services
    ("elif", "resolve", staffed(services=("mail",)), False),
    ("elif", "update", staffed(), True),  # tech leads post updates
    ("elif", "assign", staffed(), False),
    ("root", "assign", staffed(), True),  # administrators do everything ...
    ("root", "review_publish", staffed(), True),
    ("root", "acknowledge", staffed(), False),  # ... but acknowledge
    ("rita", "cancel", Incident(state="open", reports=[Report("rita")]), True),  # own report
    ("rita", "cancel", staffed(), False),  # mobilised: no longer only hers
    ("rita", "cancel", Incident(reports=[Report("rita"), Report("ben")]), False),
    ("rita", "cancel", Incident(state="declared", reports=[Report(None)]), True),
    ("rita", "resolve", staffed(), False),
    ("stranger", "update", staffed(), False),  # not in the policy
    (None, "update", staffed(), False),
]


@pytest.mark.parametrize(("person", "action", "incident", "expected"), CAN)
def test_can(person, action, incident, expected):
    assert p.can(POLICY, incident, person, action) is expected


@pytest.mark.parametrize("action", sorted(p.HELD_ONLY))
def test_held_only_actions_ignore_the_roster(action):
    """Anna and Ben are on the MIM roster, Gus on the PM's: none holds a role here."""
    incident = staffed()
    assert not any(p.can(POLICY, incident, who, action) for who in ("anna", "ben", "gus"))
    holder = "finn" if MIM in p.ACTIONS[action] else "hana"
    assert p.can(POLICY, incident, holder, action)


ACKNOWLEDGE = [
    # (person, incident, expected, the role they would take over)
    ("finn", staffed(), True, None),  # holds a role
    ("ben", staffed(), False, None),  # on duty, not paged
    ("ben", paged("ben"), True, MIM),  # paged for the MIM's role: takes it over
    ("ben", paged("ben", "not_a_role"), False, None),
    ("ben", paged("ben", MIM, Entry("role", {"role": MIM})), False, None),  # given since
    ("ben", paged("ben", MIM, Entry("acknowledged", {"roles": [MIM]})), False, None),
    ("ben", paged("ben", MIM, Entry("acknowledged", {"roles": [PM]})), True, MIM),
    ("ben", paged("anna"), False, None),
    ("elif", staffed(timeline=[Entry("escalated", {"paged": [["elif", TECH]]})]), True, TECH),
]


@pytest.mark.parametrize(("person", "incident", "expected", "role"), ACKNOWLEDGE)
def test_acknowledge_is_for_holders_and_the_paged(person, incident, expected, role):
    assert p.paged_role(incident, person) == role
    assert p.may_acknowledge(incident, person) is expected
    assert p.can(POLICY, incident, person, "acknowledge") is expected


def test_acknowledge_needs_a_person_of_the_policy():
    incident = Incident(roles=[Role(MIM, "stranger")])
    assert p.may_acknowledge(incident, "stranger")
    assert not p.can(POLICY, incident, "stranger", "acknowledge")


REFUSALS = [
    (
        "acknowledge",
        "only people holding a role in INC-7, or paged for one, acknowledge it",
    ),
    (
        "assign",
        "only the Major Incident Manager of INC-7 (or on duty, or an administrator) "
        "may assign here",
    ),
    (
        "close",
        "only the Major Incident Manager or Technical Lead of INC-7 (or on duty, or an "
        "administrator) may close here",
    ),
    (
        "review_edit",
        "only the Problem Manager or Major Incident Manager of INC-7 (or on duty, or an "
        "administrator) may edit here",
    ),
]


@pytest.mark.parametrize(("action", "text"), REFUSALS)
def test_refusal_texts(action, text):
    assert p.refusal(staffed(), action) == text


def test_the_operation_s_acknowledge_refusal():
    assert p.acknowledge_refusal(staffed(), "ben") == (
        "ben holds no role in INC-7 and was not paged for one; "
        "only role holders and the people paged acknowledge"
    )


@pytest.mark.parametrize(
    ("person", "expected"),
    [("elif", True), ("dev", False), ("finn", False), (None, False)],
)
def test_a_service_s_tech_lead(person, expected):
    assert p.leads_a_service(POLICY, staffed(), person) is expected


@pytest.mark.parametrize(
    ("person", "expected"), [("root", True), ("anna", False), ("stranger", False), (None, False)]
)
def test_admin(person, expected):
    assert p.is_admin(POLICY, person) is expected


REVIEW = [
    # (person, roles, expected)
    ("hana", (PM, MIM), True),
    ("finn", (PM, MIM), True),
    ("finn", (PM,), False),
    ("gus", (PM,), False),  # on the PM roster, but a review belongs to its people
    ("root", (PM,), True),
]


@pytest.mark.parametrize(("person", "roles", "expected"), REVIEW)
def test_review_steps_count_holders_and_admins(person, roles, expected):
    assert p.holds_or_admin(POLICY, staffed(), person, roles) is expected


def test_review_owner_and_refusal():
    assert p.review_owner(staffed()) == "hana"
    assert p.review_owner(Incident()) is None
    assert p.review_refusal(staffed(), "gus", (PM, MIM), "submit it") == (
        "only the Problem Manager or Major Incident Manager of INC-7 (or a policy admin) "
        "may submit it; gus is neither"
    )


@pytest.mark.parametrize(
    ("person", "owner", "expected"),
    [
        ("gus", "gus", True),  # the item's owner
        ("hana", "Platform team", True),  # the Problem Manager
        ("finn", None, True),  # the MIM
        ("root", None, True),
        ("anna", None, False),  # on the MIM roster only
        ("gus", "Platform team", False),
    ],
)
def test_who_changes_an_action_item(person, owner, expected):
    assert p.changes_action_item(POLICY, staffed(), owner, person) is expected


def test_action_item_refusal():
    assert p.action_item_refusal(staffed()) == (
        "only the item's owner, the Problem Manager or the Major Incident "
        "Manager of INC-7 (or a policy admin) may change it"
    )


@pytest.mark.parametrize(
    ("person", "problems", "mail"),
    [
        ("anna", True, True),  # MIM roster
        ("gus", True, False),  # PM roster
        ("root", True, True),
        ("cora", False, False),
        ("finn", False, False),  # holding a role on an incident is not the roster
        ("stranger", False, False),
    ],
)
def test_problem_records_and_stored_mail(person, problems, mail):
    assert p.manages_problems(POLICY, person) is problems
    assert p.manages_mail(POLICY, person) is mail


def test_problem_and_mail_refusals():
    assert p.problems_refusal("cora") == (
        "cora may not manage problems: only people on the problem_manager or "
        "major_incident_manager roster, or policy admins"
    )
    assert p.MAIL_REFUSAL == "only policy admins and Major Incident Managers manage stored mail"


@pytest.mark.parametrize(
    ("role", "label"),
    [(MIM, "Major Incident Manager"), (TECH, "Technical Lead"), ("on_call", "On Call"), (None, "")],
)
def test_role_label(role, label):
    assert p.role_label(role) == label
