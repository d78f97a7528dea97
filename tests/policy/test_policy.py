"""Tests for hub.policy: the example policy, durations, every validation and $env: secrets."""

from datetime import timedelta
from pathlib import Path

import pytest

from hub.policy.checks import Problem, parse_duration
from hub.policy.load import (
    PolicyError,
    check_policy,
    check_policy_text,
    load_policy,
    parse_policy,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "policy.yaml"
EXAMPLE_ENV_VARS = (
    "TEAMS_EXEC_WEBHOOK",
    "TEAMS_IT_WEBHOOK",
    "TEAMS_SERVICEDESK_WEBHOOK",
    "TEAMS_ONCALL_WEBHOOK",
)

# A small valid policy. Cases below edit it or append to it; appended text starts on line 15.
HEAD = """\
people:
  alice: {name: Alice Ng, email: alice@example.com}
  bob: {name: Bob Li, email: bob@example.com}
services:
  payroll: {aliases: [adp], critical: true, tech_lead: [alice]}
roles:
  major_incident_manager: [alice, bob]
  communications_owner: [bob]
audiences:
  execs: {email: [exec@example.com]}
severities:
  SEV1: {major: true, ack_within: 5m, update_every: 30m, notify: [execs]}
  SEV3: {major: false}
default_severity: SEV3
"""
SEV1 = "  SEV1: {major: true, ack_within: 5m, update_every: 30m, notify: [execs]}\n"


def edit(old: str, new: str) -> str:
    """HEAD with one piece of text replaced."""
    assert HEAD.count(old) == 1, old
    return HEAD.replace(old, new)


def step(text: str) -> str:
    """HEAD plus an escalation for SEV1 whose first step (line 17) is `text`."""
    return HEAD + "escalation:\n  SEV1:\n    - " + text + "\n"


def rule(text: str) -> str:
    """HEAD plus major_criteria whose first rule (line 16) is `text`."""
    return HEAD + "major_criteria:\n  - " + text + "\n"


def rules(*texts: str) -> str:
    """HEAD plus major_criteria with one rule per line from line 16, in order."""
    return rule("\n  - ".join(texts))


# HEAD with a service that is not critical (website), for rules mixing services and criticality
WEBSITE = edit(
    "  payroll: {aliases: [adp], critical: true, tech_lead: [alice]}\n",
    "  payroll: {aliases: [adp], critical: true, tech_lead: [alice]}\n"
    "  website: {aliases: [www], critical: false}\n",
)  # appended text starts on line 16


# ---------------------------------------------------------------- the example policy


def test_example_policy_loads_without_any_environment():
    policy, problems, warnings = check_policy(EXAMPLE, env={})

    assert problems == []
    assert policy.timezone == "Europe/Berlin"
    assert len(policy.people) >= 10
    assert all(p.email.endswith("@northwind.example") for p in policy.people.values())
    assert len(policy.services) >= 8
    assert policy.roles["major_incident_manager"] == ("anna", "ben")
    assert set(policy.roles) == {
        "major_incident_manager",
        "tech_lead",
        "communications_owner",
        "problem_manager",
    }
    assert [s.key for s in policy.severities.values()] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    sev1, sev2 = policy.severity("SEV1"), policy.severity("SEV2")
    assert (sev1.rank, sev1.major, sev2.major) == (0, True, True)
    assert sev1.ack_within == timedelta(minutes=5)
    assert sev1.update_every == timedelta(minutes=30)
    assert sev1.first_update_within == timedelta(minutes=15)
    assert sev1.resolve_within == timedelta(hours=4)
    assert sev1.review_within == timedelta(hours=48)
    assert sev2.ack_within == timedelta(minutes=15)
    assert sev2.update_every == timedelta(minutes=60)
    assert sev2.resolve_within == timedelta(hours=8)
    assert sev2.review_within == timedelta(hours=72)
    assert not policy.severity("SEV3").major
    assert len(policy.escalation["SEV1"]) == 3
    assert len(policy.escalation["SEV2"]) == 2
    assert policy.intake.email_address == "incidents@northwind.example"
    assert policy.intake.allowed_senders == ("*@northwind.example",)
    assert policy.bridge_url.startswith("https://teams.microsoft.com/")
    assert [p.key for p in policy.people.values() if p.admin] == ["anna", "ben"]
    assert policy.audiences["executives"].teams == ()  # no webhook in the environment
    assert policy.teams_pages_webhook is None
    assert any("TEAMS_EXEC_WEBHOOK is not set" in w for w in warnings)
    assert all(any(name in w for w in warnings) for name in EXAMPLE_ENV_VARS)


def test_example_policy_with_webhooks_in_the_environment():
    env = {name: f"https://hooks.example/{name.lower()}" for name in EXAMPLE_ENV_VARS}

    policy, problems, warnings = check_policy(EXAMPLE, env=env)

    assert problems == []
    # the example keeps a few everyday aliases (mail, sap, orders, portal…): only those warn
    assert warnings and all("is an everyday word" in w for w in warnings), warnings
    execs = policy.audiences["executives"]
    assert [t.webhook for t in execs.teams] == ["https://hooks.example/teams_exec_webhook"]
    assert policy.teams_pages_webhook == "https://hooks.example/teams_oncall_webhook"


def test_example_policy_classifies_with_every_kind_of_condition():
    policy = load_policy(EXAMPLE, env={})
    criteria = {c.name: c for c in policy.major_criteria}

    assert criteria["security-incident"].security is True
    assert criteria["critical-service-outage"].impact == ("outage",)
    assert criteria["many-reporters"].within == timedelta(minutes=15)
    assert criteria["trucks-waiting"].services == ("warehouse-scanners", "erp")
    assert "trucks waiting" in criteria["trucks-waiting"].keywords
    assert policy.major_criteria[-1].severity == "SEV3"
    assert policy.default_severity == "SEV4"


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("0m", timedelta(0)),
        (" 15m ", timedelta(minutes=15)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "5", "5 minutes", "m", "-5m", "5M", "1.5h", "30m1h", "5m 30s", "1w", None, 5]
)
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match=r"expected a duration like 90s, 5m, 4h or 2d, got"):
        parse_duration(text)


# ---------------------------------------------------------------- problems


def test_problem_reads_like_a_compiler_message():
    problem = Problem(
        "policy.yaml",
        12,
        "severities.SEV1.ack_within",
        "expected a duration like 90s, 5m, 4h or 2d, got '5 minutes'",
    )

    assert str(problem) == (
        "policy.yaml:12: severities.SEV1.ack_within: "
        "expected a duration like 90s, 5m, 4h or 2d, got '5 minutes'"
    )


def test_small_policy_loads():
    policy = parse_policy(HEAD, env={})

    assert policy.services["payroll"].name == "Payroll"  # default: the key, title-cased
    assert policy.audiences["execs"].name == "Execs"  # default: the key in words
    named = parse_policy(edit("execs: {email:", "execs: {name: Executive team, email:"), env={})
    assert named.audiences["execs"].name == "Executive team"
    assert policy.services["payroll"].tech_lead == ("alice",)
    assert policy.timezone == "UTC"
    assert policy.severity("SEV3").rank == 1
    assert policy.intake.allowed_senders == ("*",)
    assert policy.source == "<string>"


BROKEN = [
    # (policy text, line, field, part of the message)
    (
        edit("ack_within: 5m", "ack_within: 5 minutes"),
        12,
        "severities.SEV1.ack_within",
        "expected a duration like 90s, 5m, 4h or 2d, got '5 minutes'",
    ),
    (
        edit("ack_within: 5m", "ack_whithin: 5m"),
        12,
        "severities.SEV1.ack_whithin",
        "unknown key 'ack_whithin'; did you mean 'ack_within'?",
    ),
    (
        edit(SEV1, "  SEV1: {major: true, ack_within: 5m, notify: [execs]}\n"),
        12,
        "severities.SEV1.update_every",
        "required for a major severity",
    ),
    (
        edit("update_every: 30m", "update_every: 0m"),
        12,
        "severities.SEV1.update_every",
        "must be longer than 0",
    ),
    (HEAD + "escalaton: {}\n", 15, "escalaton", "did you mean 'escalation'?"),
    (edit("default_severity: SEV3\n", ""), 1, "default_severity", "required but missing"),
    (
        edit("default_severity: SEV3", "default_severity: SEV5"),
        14,
        "default_severity",
        "unknown severity 'SEV5'",
    ),  # fmt: skip
    (HEAD + "default_severity: SEV1\n", 15, "default_severity", "duplicate key (first on line 14)"),
    (
        edit("  major_incident_manager: [alice, bob]\n", ""),
        6,
        "roles.major_incident_manager",
        "required but missing",
    ),
    (
        edit("communications_owner: [bob]", "comms_owner: [bob]"),
        8,
        "roles.comms_owner",
        "unknown role 'comms_owner'",
    ),
    (
        edit("major_incident_manager: [alice, bob]", "major_incident_manager: [alice, rob]"),
        7,
        "roles.major_incident_manager[1]",
        "unknown person 'rob'; did you mean 'bob'?",
    ),
    (
        edit("tech_lead: [alice]", "tech_lead: alicia"),
        5,
        "services.payroll.tech_lead",
        "unknown person 'alicia'; did you mean 'alice'?",
    ),
    (
        edit("critical: true", "critical: very"),
        5,
        "services.payroll.critical",
        "expected true or false, got 'very'",
    ),
    (
        edit(
            "  payroll: {aliases: [adp], critical: true, tech_lead: [alice]}\n",
            "  payroll: {aliases: [adp], critical: true, tech_lead: [alice]}\n"
            "  hr:\n"
            "    aliases: [people, ADP]\n",
        ),
        7,
        "services.hr.aliases[1]",
        "alias 'ADP' already names service 'payroll'",
    ),
    (
        edit("execs: {email:", "execs: {name: [Execs], email:"),
        10,
        "audiences.execs.name",
        "expected text, got a list",
    ),
    (
        edit("execs: {email:", "execs: {name: '  ', email:"),
        10,
        "audiences.execs.name",
        "expected text, got an empty string",
    ),
    (
        edit("notify: [execs]", "notify: [executives]"),
        12,
        "severities.SEV1.notify[0]",
        "unknown audience 'executives'",
    ),
    (
        edit("email: alice@example.com", "email: alice.example.com"),
        2,
        "people.alice.email",
        "expected an email address like name@example.com, got 'alice.example.com'",
    ),
    (
        edit(
            "bob: {name: Bob Li, email: bob@example.com}",
            "bob: {name: Bob Li, email: Alice@example.com}",
        ),
        3,
        "people.bob.email",
        "'Alice@example.com' already belongs to 'alice'",
    ),
    (
        edit("alice: {name: Alice Ng,", "alice: {name: Alice Ng, aad_object_id: 42,"),
        2,
        "people.alice.aad_object_id",
        "expected an Entra object id",
    ),
    ("timezone: Europe/Berlinn\n" + HEAD, 1, "timezone", "unknown time zone 'Europe/Berlinn'"),
    (HEAD + "admins: [alice, carol]\n", 15, "admins[1]", "unknown person 'carol'"),
    (
        rule("{name: breach, if: {security: true}, severity: SEV0}"),
        16,
        "major_criteria[0].severity",
        "unknown severity 'SEV0'",
    ),
    (
        rule("{name: breach, if: {securty: true}, severity: SEV1}"),
        16,
        "major_criteria[0].if.securty",
        "unknown condition 'securty'; did you mean 'security'?",
    ),
    (
        rule("{name: down, if: {impact: [outage, down]}, severity: SEV1}"),
        16,
        "major_criteria[0].if.impact[1]",
        "unknown impact 'down'; expected one of: outage, degraded, minor",
    ),
    (
        rule("{name: burst, if: {within: 10m}, severity: SEV1}"),
        16,
        "major_criteria[0].if.within",
        "only applies together with reporters_at_least",
    ),
    (
        rule("{name: crowd, if: {reporters_at_least: 0}, severity: SEV1}"),
        16,
        "major_criteria[0].if.reporters_at_least",
        "expected a whole number of at least 1, got 0",
    ),
    (
        rule("{name: hr, if: {services: [hr]}, severity: SEV1}"),
        16,
        "major_criteria[0].if.services[0]",
        "unknown service 'hr'",
    ),
    (
        rule(
            "{name: anything, severity: SEV3}\n  - {name: breach, if: {security: true}, severity: SEV1}"
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'anything' above matches everything",
    ),
    (rule("{if: {security: true}, severity: SEV1}"), 16, "major_criteria[0].name", "required"),
    (
        rule("{name: a, if: {security: true}, severity: SEV1}\n  - {name: a, severity: SEV3}"),
        17,
        "major_criteria[1].name",
        "duplicate rule name (first on line 16)",
    ),
    # conditions given as an empty list would match every report
    (
        rule("{name: words, if: {keywords: []}, severity: SEV1}"),
        16,
        "major_criteria[0].if.keywords",
        "must list at least one keyword",
    ),
    (
        rule("{name: any, if: {impact: []}, severity: SEV1}"),
        16,
        "major_criteria[0].if.impact",
        "must list at least one impact",
    ),
    (
        rule("{name: svc, if: {services: [], impact: outage}, severity: SEV1}"),
        16,
        "major_criteria[0].if.services",
        "must list at least one service",
    ),
    (
        HEAD
        + "major_criteria:\n  - name: words\n    if:\n      keywords: []\n    severity: SEV1\n",
        18,
        "major_criteria[0].if.keywords",
        "must list at least one keyword",
    ),
    # rules shadowed by an earlier rule (first match wins)
    (
        rules(
            "{name: security-incident, if: {security: true}, severity: SEV1}",
            "{name: breach, if: {security: true}, severity: SEV3}",
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'security-incident' on line 16 matches every report this rule",
    ),
    (
        rules(
            "{name: very-many, if: {affected_users_at_least: 500}, severity: SEV1}",
            "{name: huge, if: {affected_users_at_least: 600}, severity: SEV3}",
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'very-many' on line 16",
    ),
    (
        rules(
            "{name: down, if: {impact: [outage, degraded]}, severity: SEV1}",
            "{name: pay-down, if: {impact: outage, services: [payroll], security: false},"
            " severity: SEV3}",
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'down' on line 16",
    ),
    (
        rules(
            "{name: pay, if: {services: payroll, keywords: [Trucks  Waiting, stop]}, severity: SEV1}",
            "{name: pay-trucks, if: {services: [payroll], keywords: [trucks waiting]},"
            " severity: SEV3}",
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'pay' on line 16",
    ),
    (
        rules(
            "{name: crowd, if: {reporters_at_least: 3, within: 30m}, severity: SEV1}",
            "{name: mob, if: {reporters_at_least: 5}, severity: SEV3}",  # within: the 10m default
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'crowd' on line 16",
    ),
    (
        rules(
            "{name: a, if: {security: true, impact: outage}, severity: SEV1}",
            "{name: b, if: {critical_service: true}, severity: SEV1}",
            "{name: c, if: {critical_service: true, impact: minor}, severity: SEV3}",
        ),
        18,
        "major_criteria[2]",
        "can never match: rule 'b' on line 17",
    ),
    # every listed service is critical in the catalogue: critical_service: true is implied
    (
        rules(
            "{name: critical-down, if: {critical_service: true, impact: outage}, severity: SEV1}",
            "{name: pay-down, if: {services: [payroll], impact: outage}, severity: SEV3}",
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'critical-down' on line 16 matches every report this rule",
    ),
    (
        rules(
            "{name: critical, if: {critical_service: true, impact: degraded}, severity: SEV1}",
            "{name: no-ship, if: {keywords: [cannot ship], services: [payroll],"
            " impact: degraded}, severity: SEV3}",
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'critical' on line 16",
    ),
    (  # a keyword that is a critical service's alias: the text names that service
        rules(
            "{name: critical, if: {critical_service: true}, severity: SEV1}",
            "{name: adp, if: {keywords: [ADP, payroll]}, severity: SEV3}",
        ),
        17,
        "major_criteria[1]",
        "can never match: rule 'critical' on line 16",
    ),
    # contradictory conditions
    (
        rule("{name: pay, if: {critical_service: false, services: [payroll]}, severity: SEV1}"),
        16,
        "major_criteria[0].if.critical_service",
        "can never match: critical_service: false needs no critical service affected, "
        "but every listed service (payroll) is critical",
    ),
    (
        step("{after: 0m, notify: [role:major_incident_manager#3]}"),
        17,
        "escalation.SEV1[0].notify[0]",
        "roles.major_incident_manager lists 2 people, so there is no #3",
    ),
    (
        step("{after: 0m, notify: [role:problem_manager]}"),
        17,
        "escalation.SEV1[0].notify[0]",
        "roles.problem_manager lists 0 people, so there is no #1",
    ),
    (
        step("{after: 0m, notify: [role:incident_manager]}"),
        17,
        "escalation.SEV1[0].notify[0]",
        "unknown role 'incident_manager'; did you mean 'major_incident_manager'?",
    ),
    (
        step("{after: 0m, notify: [person:carol]}"),
        17,
        "escalation.SEV1[0].notify[0]",
        "unknown person 'carol'",
    ),
    (
        step("{after: 0m, notify: [audience:board]}"),
        17,
        "escalation.SEV1[0].notify[0]",
        "unknown audience 'board'",
    ),
    (
        step("{after: 0m, notify: [alice]}"),
        17,
        "escalation.SEV1[0].notify[0]",
        "expected role:NAME, role:NAME#N, schedule:NAME, schedule:NAME#next, person:KEY or audience:KEY, got 'alice'",
    ),
    (
        step("{after: 10m, notify: [person:alice]}\n    - {after: 5m, notify: [person:bob]}"),
        18,
        "escalation.SEV1[1].after",
        "steps must be in order of 'after': 5m comes after 10m",
    ),
    (
        step("{after: 0m, notify: [person:alice], via: [teams, sms]}"),
        17,
        "escalation.SEV1[0].via[1]",
        "unknown channel 'sms'; expected one of: teams, email",
    ),
    (
        step("{after: 0m, notify: [person:alice], unless: resolved}"),
        17,
        "escalation.SEV1[0].unless",
        "unknown condition 'resolved'; expected 'acknowledged'",
    ),
    (step("{notify: [person:alice]}"), 17, "escalation.SEV1[0].after", "required but missing"),
    (HEAD + "escalation:\n  SEV9: []\n", 16, "escalation.SEV9", "unknown severity 'SEV9'"),
    (
        HEAD
        + "intake:\n  email: {address: incidents@example.com, allowed_senders: [example.com]}\n",
        16,
        "intake.email.allowed_senders[0]",
        "expected an address or a pattern like *@example.com, got 'example.com'",
    ),
    (
        HEAD + "intake:\n  correlation_window: ten minutes\n",
        16,
        "intake.correlation_window",
        "expected a duration like",
    ),
    (HEAD + "sla:\n  warn_at: [0.8, 0.5]\n", 16, "sla.warn_at[1]", "expected rising fractions"),
    (HEAD + "bridge: {url: teams meeting}\n", 15, "bridge.url", "expected an http(s) URL"),
    (HEAD + "reviews:\n  tags: [network]\n", 16, "reviews.tags", "expected one of: tags_allowed"),
    (
        edit("execs: {email: [exec@example.com]}", "execs: {<<: {email: [exec@example.com]}}"),
        10,
        "audiences.execs",
        "expected a plain key, got a merge key (<<); write the keys out",
    ),
    (
        edit("  execs: {email: [exec@example.com]}", "  execs: [exec@example.com]"),
        10,
        "audiences.execs",
        "expected a mapping of keys to values, got a list",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), BROKEN)
def test_broken_policy_names_line_field_and_what_is_expected(text, line, field, message):
    policy, problems, _ = check_policy_text(text, "policy.yaml", env={})

    assert policy is None
    located = [p for p in problems if (p.line, p.field) == (line, field)]
    assert located, "\n".join(str(p) for p in problems)
    assert any(message in p.message for p in located), "\n".join(str(p) for p in located)
    assert all(p.file == "policy.yaml" for p in problems)


def test_every_problem_is_collected_before_raising():
    text = edit("ack_within: 5m", "ack_within: soon").replace("[execs]", "[board]")
    text += "escalaton: {}\n"

    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml", env={})

    assert str(caught.value).splitlines() == [
        "policy.yaml:12: severities.SEV1.ack_within: "
        "expected a duration like 90s, 5m, 4h or 2d, got 'soon'",
        "policy.yaml:12: severities.SEV1.notify[0]: unknown audience 'board'; "
        "expected one of: execs",
        "policy.yaml:15: escalaton: unknown key 'escalaton'; did you mean 'escalation'?",
    ]
    assert [p.line for p in caught.value.problems] == [12, 12, 15]


def test_yaml_syntax_error_is_a_policy_error_with_its_line():
    with pytest.raises(PolicyError) as caught:
        parse_policy(HEAD + "bridge: {url: https://x.example\nintake: {}\n", "policy.yaml", env={})

    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("policy.yaml", 15, "bridge")
    assert problem.message.startswith("not valid YAML: this '{' is never closed with '}'")
    assert "the parser gave up on line 16" in problem.message


def example_with(old: str, new: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, part: str) -> int:
    return text[: text.index(part)].count("\n") + 1


SYNTAX_ERRORS = [
    # (text, the text on the line to report, field, part of the message)
    (
        example_with("timezone: Europe/Berlin", "timezone: [Europe/Berlin"),
        "timezone: [Europe/Berlin",
        "timezone",
        "this '[' is never closed with ']'",
    ),
    (
        example_with("    update_every: 60m", "    update_every 60m"),
        "    update_every 60m",
        "severities.SEV2.update_every",
        "could not find expected ':'",
    ),
    (
        example_with(
            "    if: {keywords: [company-wide, all sites, nobody can work]}",
            "    if: {keywords: [company-wide, all sites, nobody can work}",
        ),
        "    if: {keywords: [company-wide, all sites, nobody can work}",
        "major_criteria[7].if.keywords",
        "never closed",
    ),
    (
        example_with("  correlation_window: 10m", "  correlation_window: '10m"),
        "  correlation_window: '10m",
        "intake.correlation_window",
        "while scanning a quoted scalar that starts here",
    ),
    (
        example_with("    ack_within: 15m", "   ack_within: 15m"),
        "   ack_within: 15m",
        "severities",
        "expected <block end>",
    ),
]


@pytest.mark.parametrize(("text", "bad_line", "field", "message"), SYNTAX_ERRORS)
def test_yaml_syntax_error_names_the_line_to_fix_and_the_field(text, bad_line, field, message):
    policy, problems, _ = check_policy_text(text, "policy.yaml", env={})

    assert policy is None
    [problem] = problems
    assert (problem.line, problem.field) == (line_of(text, bad_line), field), str(problem)
    assert problem.message.startswith("not valid YAML: ")
    assert message in problem.message


def test_unknown_person_on_a_roster_is_one_problem_not_a_short_roster_too():
    text = edit("communications_owner: [bob]", "communications_owner: [zed]")
    text += "escalation:\n  SEV1:\n    - {after: 0m, notify: [role:communications_owner]}\n"

    _, problems, _ = check_policy_text(text, "policy.yaml", env={})

    assert [str(p) for p in problems] == [
        "policy.yaml:8: roles.communications_owner[0]: unknown person 'zed'; "
        "expected one of: alice, bob"
    ]


@pytest.mark.parametrize(
    "criteria",
    [
        # a later rule that is narrower in one way but broader in another still matches
        ("{name: a, if: {affected_users_at_least: 500}, severity: SEV1}",
         "{name: b, if: {affected_users_at_least: 400}, severity: SEV3}"),
        ("{name: a, if: {security: true}, severity: SEV1}",
         "{name: b, if: {security: false}, severity: SEV3}"),
        ("{name: a, if: {impact: outage, critical_service: true}, severity: SEV1}",
         "{name: b, if: {impact: outage}, severity: SEV3}"),
        ("{name: a, if: {keywords: [trucks waiting]}, severity: SEV1}",
         "{name: b, if: {keywords: [trucks waiting, loading stopped]}, severity: SEV3}"),
        ("{name: a, if: {keywords: [trucks]}, severity: SEV1}",
         "{name: b, if: {services: [payroll]}, severity: SEV3}"),
        ("{name: a, if: {reporters_at_least: 3, within: 5m}, severity: SEV1}",
         "{name: b, if: {reporters_at_least: 5}, severity: SEV3}"),  # 10m default: wider
        ("{name: a, if: {reporters_at_least: 5}, severity: SEV1}",
         "{name: b, if: {reporters_at_least: 3}, severity: SEV3}"),
        ("{name: a, if: {services: [payroll]}, severity: SEV1}",
         "{name: b, if: {services: [payroll, website]}, severity: SEV3}"),
        ("{name: a, if: {critical_service: true, services: [payroll]}, severity: SEV1}",
         "{name: b, if: {critical_service: false, services: [website]}, severity: SEV3}"),
        # look-alikes of a critical-only service list: nothing certain implies critical
        ("{name: a, if: {critical_service: true, impact: outage}, severity: SEV1}",
         "{name: b, if: {services: [payroll, website], impact: outage}, severity: SEV3}"),
        ("{name: a, if: {critical_service: true, impact: outage}, severity: SEV1}",
         "{name: b, if: {services: [payroll], impact: degraded}, severity: SEV3}"),
        ("{name: a, if: {critical_service: true, impact: outage}, severity: SEV1}",
         "{name: b, if: {keywords: [payroll, trucks], impact: outage}, severity: SEV3}"),
        ("{name: a, if: {critical_service: true}, severity: SEV1}",
         "{name: b, if: {keywords: [payrolls]}, severity: SEV3}"),  # not the word payroll
        ("{name: a, if: {critical_service: false, impact: outage}, severity: SEV1}",
         "{name: b, if: {services: [website], impact: outage}, severity: SEV3}"),
        # security keywords do not imply security: true (security: false from the reporter wins)
        ("{name: a, if: {security: true}, severity: SEV1}",
         "{name: b, if: {keywords: [breach]}, severity: SEV3}"),
    ],
)  # fmt: skip
def test_rules_that_can_still_match_are_not_reported_as_shadowed(criteria):
    policy = parse_policy(WEBSITE + "major_criteria:\n  - " + "\n  - ".join(criteria) + "\n",
                          env={})  # fmt: skip

    assert [c.name for c in policy.major_criteria] == ["a", "b"]


@pytest.mark.parametrize(
    ("rule_text", "after"),
    [
        ("  - name: payroll-down\n    if: {services: [payroll], impact: outage}\n"
         "    severity: SEV3\n", "critical-service-outage"),
        ("  - name: erp-no-ship\n    if: {keywords: [cannot ship], services: [erp], impact: degraded}"
         "\n    severity: SEV3\n", "critical-service-degraded"),
    ],
)  # fmt: skip
def test_example_rule_on_critical_services_only_is_shadowed(rule_text, after):
    """The catalogue marks payroll and erp critical, so the earlier critical_service rule
    matches every report these rules match; classification agrees."""
    from datetime import UTC, datetime

    from hub.core.classify import Report, classify_report

    text = example_with("  - name: degraded\n", rule_text + "  - name: degraded\n")
    _, problems, _ = check_policy_text(text, "policy.yaml", env={})

    [problem] = problems
    assert problem.line == line_of(text, rule_text)
    assert problem.message.startswith(f"can never match: rule {after!r} on line ")
    policy = parse_policy(EXAMPLE.read_text(encoding="utf-8"), env={})
    service = "payroll" if "payroll" in rule_text else "erp"
    impact = "outage" if "outage" in rule_text else "degraded"
    report = Report(title="we cannot ship", services=(service,), impact=impact, security=False)
    assert classify_report(report, policy, now=datetime.now(UTC)).rule == after


def test_security_keyword_rule_after_a_security_rule_can_still_match():
    """A reporter's security: false wins over a security keyword, so a keyword rule below a
    security: true rule still matches such reports."""
    from datetime import UTC, datetime

    from hub.core.classify import Report, classify_report

    policy = parse_policy(
        rules(
            "{name: sec, if: {security: true}, severity: SEV1}",
            "{name: words, if: {keywords: [breach]}, severity: SEV3}",
        ),
        env={},
    )
    report = Report(title="breach drill", security=False)
    assert classify_report(report, policy, now=datetime.now(UTC)).rule == "words"


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the policy is empty"), ("# only a comment\n", "the policy is empty")],
)
def test_empty_policy(text, message):
    _, problems, _ = check_policy_text(text, "policy.yaml", env={})

    assert [str(p) for p in problems] == [f"policy.yaml:1: {message}"]


def test_missing_section_is_reported_once_at_line_1():
    text = "# Northwind\n\n" + HEAD.replace(HEAD[: HEAD.index("services:")], "")

    _, problems, _ = check_policy_text(text, "policy.yaml", env={})

    assert [str(p) for p in problems] == ["policy.yaml:1: people: required but missing"]


def test_python_tags_are_refused():
    text = edit("  execs: {email: [exec@example.com]}", "  execs: !!python/object:os.system {}")

    _, problems, _ = check_policy_text(text, "policy.yaml", env={})

    assert [str(p) for p in problems] == [
        "policy.yaml:10: audiences.execs: "
        "expected a mapping of keys to values, got a value tagged !!python/object:os.system"
    ]


def test_policy_that_is_not_a_mapping():
    _, problems, _ = check_policy_text("- people\n- roles\n", "policy.yaml", env={})

    assert [str(p) for p in problems] == [
        "policy.yaml:1: expected a mapping of keys to values, got a list"
    ]


def test_missing_file_is_a_problem_without_a_line(tmp_path):
    path = tmp_path / "nope.yaml"

    policy, problems, _ = check_policy(path, env={})

    assert policy is None
    assert [str(p) for p in problems] == [
        f"{path}: cannot read the policy file: No such file or directory"
    ]
    with pytest.raises(FileNotFoundError):
        load_policy(path, env={})


def test_file_that_is_not_utf8_is_a_policy_error(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes(HEAD.encode() + b"# caf\xe9\n")

    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(path, env={})
    assert "not UTF-8" in str(check_policy(path, env={})[1][0])


def test_load_policy_names_the_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(edit("default_severity: SEV3", "default_severity: SEV7"), encoding="utf-8")

    with pytest.raises(PolicyError, match=r"policy\.yaml:14: default_severity: unknown severity"):
        load_policy(path, env={})


def test_tech_lead_may_be_paged_beyond_any_roster():
    policy = parse_policy(step("{after: 0m, notify: [role:tech_lead#3, person:bob]}"), env={})

    assert policy.escalation["SEV1"][0].notify == ("role:tech_lead#3", "person:bob")
    assert policy.escalation["SEV1"][0].via == ("teams", "email")


def test_catch_all_rule_is_allowed_last():
    text = rule(
        "{name: breach, if: {security: true}, severity: SEV1}\n  - {name: rest, severity: SEV3}"
    )

    policy = parse_policy(text, env={})

    assert [c.name for c in policy.major_criteria] == ["breach", "rest"]


def test_reporters_without_within_use_the_correlation_window():
    policy = parse_policy(
        rule("{name: crowd, if: {reporters_at_least: 5}, severity: SEV1}"), env={}
    )

    assert policy.major_criteria[0].within is None
    assert policy.intake.correlation_window == timedelta(minutes=10)


def test_admins_are_flagged():
    policy = parse_policy(HEAD + "admins: [bob]\n", env={})

    assert [p.admin for p in policy.people.values()] == [False, True]


def test_yaml_anchors_and_aliases_work():
    text = edit("notify: [execs]", "notify: &stakeholders [execs]").replace(
        "SEV3: {major: false}", "SEV3: {major: false, notify: *stakeholders}"
    )

    assert parse_policy(text, env={}).severity("SEV3").notify == ("execs",)


# ---------------------------------------------------------------- $env: secrets

WEBHOOKS = (
    HEAD.replace(
        "  execs: {email: [exec@example.com]}",
        '  execs: {email: [exec@example.com], teams: [{webhook: "$env:EXEC_HOOK"}]}',
    )
    + 'teams: {pages_webhook: "$env:ONCALL_HOOK"}\n'
)


def test_env_references_are_resolved():
    env = {"EXEC_HOOK": "https://hooks.example/exec", "ONCALL_HOOK": "https://hooks.example/oncall"}

    policy, problems, warnings = check_policy_text(WEBHOOKS, "policy.yaml", env=env)

    assert (problems, warnings) == ([], [])
    assert policy.audiences["execs"].teams[0].webhook == "https://hooks.example/exec"
    assert policy.teams_pages_webhook == "https://hooks.example/oncall"


@pytest.mark.parametrize("env", [{}, {"EXEC_HOOK": "", "ONCALL_HOOK": "  "}])
def test_unset_env_references_are_warnings_and_the_target_is_skipped(env):
    policy, problems, warnings = check_policy_text(WEBHOOKS, "policy.yaml", env=env)

    assert problems == []
    assert warnings == [
        "policy.yaml:10: audiences.execs.teams[0].webhook: "
        "EXEC_HOOK is not set; execs' Teams target will be skipped",
        "policy.yaml:15: teams.pages_webhook: "
        "ONCALL_HOOK is not set; pages will not be posted to the responders' Teams channel",
    ]
    assert policy.audiences["execs"].teams == ()
    assert policy.audiences["execs"].email == ("exec@example.com",)
    assert policy.teams_pages_webhook is None


def test_load_policy_logs_the_warnings(tmp_path, caplog):
    path = tmp_path / "policy.yaml"
    path.write_text(WEBHOOKS, encoding="utf-8")

    load_policy(path, env={"EXEC_HOOK": "https://hooks.example/exec"})

    assert "ONCALL_HOOK is not set" in caplog.text
    assert "EXEC_HOOK" not in caplog.text


def test_env_value_that_is_not_a_url_is_a_problem_that_keeps_the_secret():
    env = {"EXEC_HOOK": "s3cr3t-token", "ONCALL_HOOK": "https://hooks.example/oncall"}

    _, problems, _ = check_policy_text(WEBHOOKS, "policy.yaml", env=env)

    assert [str(p) for p in problems] == [
        "policy.yaml:10: audiences.execs.teams[0].webhook: "
        "expected an http(s) URL; EXEC_HOOK holds something else"
    ]


def test_webhook_written_into_the_file_is_a_warning():
    text = WEBHOOKS.replace('"$env:ONCALL_HOOK"', "https://hooks.example/oncall")

    policy, _, warnings = check_policy_text(
        text, "policy.yaml", env={"EXEC_HOOK": "https://h.example"}
    )

    assert policy.teams_pages_webhook == "https://hooks.example/oncall"
    assert warnings == [
        "policy.yaml:15: teams.pages_webhook: "
        "this URL is a secret; prefer $env:NAME to keep it out of the file"
    ]


def test_malformed_env_reference_is_a_problem():
    text = WEBHOOKS.replace("$env:ONCALL_HOOK", "$env:ONCALL-HOOK")

    _, problems, _ = check_policy_text(text, "policy.yaml", env={})

    assert [p.field for p in problems] == ["teams.pages_webhook"]
    assert "expected $env:NAME" in problems[0].message


def test_critical_service_with_only_non_critical_services_is_a_warning():
    """It matches only when a critical service is down as well: probably a mistake, so said,
    but the rule can match, so the policy still loads."""
    text = (
        WEBSITE
        + "major_criteria:\n  - name: web\n    if:\n      services: [website]\n"
        + "      critical_service: true\n    severity: SEV1\n"
    )
    policy, problems, warnings = check_policy_text(text, "policy.yaml", env={})
    assert problems == [] and policy is not None
    assert [w for w in warnings if "major_criteria[0].if.critical_service" in w] == [
        "policy.yaml:20: major_criteria[0].if.critical_service: critical_service: true, but "
        "none of the listed services (website) is critical in the catalogue, so this rule "
        "never matches a report about them alone; list a critical service or drop "
        "critical_service"
    ]


def test_a_process_logs_each_policy_warning_once(tmp_path, caplog, monkeypatch):
    """Loading the file again (a second Hub, a reload after the file was touched) does not
    repeat a warning already logged; a new warning is still logged."""
    import os

    from hub.app.context import PolicyHolder

    path = tmp_path / "policy.yaml"
    path.write_text(WEBHOOKS, encoding="utf-8")
    env = {"EXEC_HOOK": "https://hooks.example/exec"}
    load_policy(path, env=env)
    load_policy(path, env=env)
    holder = PolicyHolder(path, check_every=0)
    monkeypatch.delenv("ONCALL_HOOK", raising=False)
    monkeypatch.delenv("OTHER_HOOK", raising=False)
    holder.reload()
    os.utime(path, (1, 1))
    assert holder.current is not None
    assert caplog.text.count("ONCALL_HOOK is not set") == 1
    path.write_text(WEBHOOKS.replace("$env:ONCALL_HOOK", "$env:OTHER_HOOK"), encoding="utf-8")
    holder.reload()
    assert caplog.text.count("OTHER_HOOK is not set") == 1
    assert caplog.text.count("ONCALL_HOOK is not set") == 1


def test_load_policy_can_leave_the_warnings_unlogged(tmp_path, caplog):
    path = tmp_path / "policy.yaml"
    path.write_text(WEBHOOKS, encoding="utf-8")

    policy = load_policy(path, env={}, log_warnings=False)

    assert policy.teams_pages_webhook is None
    assert "is not set" not in caplog.text
