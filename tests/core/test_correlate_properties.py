"""Properties of reading and correlation (hypothesis): a mention elsewhere never moves a report
to another incident, and a report about X never joins (so never raises) an incident about Y."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hub.core.classify import Report, classify_report, infer_security
from hub.core.correlate import OpenIncident, correlate
from hub.core.correlate import Report as Seen
from tests.classification.evaluate import set_policy

POLICY = set_policy()
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WINDOW = POLICY.intake.correlation_window
KEYS = sorted(POLICY.services)
IMPACTS = ["is down", "is not working", "is very slow", "keeps disconnecting", "crashed", ""]
ASIDES = [
    "PS: {name} works fine for me.",
    "Unrelated, but I got a mail about {name} yesterday.",
    "My colleague says {name} is down too, but that is another story.",
    "By the way, {name} was slow last week.",
    "I am writing from {name} because of this.",
    "{name} {word}.",
]
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=0, max_size=30)


def _names(key: str) -> list[str]:
    return [key, *POLICY.services[key].aliases]


def _incidents() -> list[OpenIncident]:
    """One open incident per service, and one about two services, all inside the window."""
    opened = [
        OpenIncident(
            i + 1, f"INC-{i + 1}", f"{k} trouble", (k,), False, None, NOW - timedelta(minutes=1)
        )
        for i, k in enumerate(KEYS)
    ]
    both = OpenIncident(
        99, "INC-99", "two", (KEYS[0], KEYS[1]), False, None, NOW - timedelta(minutes=2)
    )
    return [*opened, both]


def _decide(report: Report):
    result = classify_report(report, POLICY, (), now=NOW)
    seen = Seen(
        result.services,
        result.mentioned,
        result.impact,
        result.security,
        result.security_kind,
    )
    return result, correlate(seen, _incidents(), WINDOW, NOW)


@st.composite
def report_about_one_service(draw):
    key = draw(st.sampled_from(KEYS))
    other = draw(st.sampled_from([k for k in KEYS if k != key]))
    name = draw(st.sampled_from(_names(key)))
    said = f"{name} {draw(st.sampled_from(IMPACTS))}".strip()
    if draw(st.booleans()):  # named in the title (an email subject, a chat message)
        title = said
        body = draw(st.sampled_from(["", "Since this morning.", "Please help, it started at 9."]))
    else:  # a vague subject: the first sentences say what is wrong
        title = draw(st.sampled_from(["Help", "Urgent!!", "Problem", "Question"]))
        body = f"Hi, {said}. It started at 9."
    aside = draw(st.sampled_from(ASIDES)).format(
        name=draw(st.sampled_from(_names(other))), word=draw(words)
    )
    return key, other, title, body, aside


@settings(max_examples=300, deadline=None)
@given(report_about_one_service())
def test_an_aside_naming_another_service_never_changes_the_join(case):
    key, _other, title, body, aside = case
    assume(not infer_security(aside, POLICY))  # "email hacked" is a new claim, not an aside
    plain, decided = _decide(Report(title=title, text=body))
    with_aside, decided_too = _decide(Report(title=title, text=f"{body}\n\n{aside}".strip()))
    assert plain.services == with_aside.services == (key,), (plain, with_aside)
    assert (decided.join and decided.join.id) == (decided_too.join and decided_too.join.id)


@settings(max_examples=300, deadline=None)
@given(report_about_one_service())
def test_a_report_about_x_never_joins_or_raises_an_incident_about_y(case):
    key, _other, title, body, aside = case
    result, decided = _decide(Report(title=title, text=f"{body} {aside}"))
    if decided.join is not None:  # only a join may raise an incident's impact and severity
        assert decided.join.services == result.services == (key,), (result, decided)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(KEYS), min_size=0, max_size=3, unique=True),
    st.booleans(),
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(KEYS), max_size=3, unique=True),
            st.booleans(),
            st.integers(0, 30),
        ),
        max_size=6,
    ),
)
def test_joins_are_only_for_the_same_services_and_kind(services, security, open_ones):
    seen = Seen(tuple(services), (), "outage", security, "phishing" if security else None)
    incidents = [
        OpenIncident(
            i,
            f"INC-{i}",
            "t",
            tuple(s),
            sec,
            "phishing" if sec else None,
            NOW - timedelta(minutes=m),
        )
        for i, (s, sec, m) in enumerate(open_ones, 1)
    ]
    decided = correlate(seen, incidents, WINDOW, NOW)
    if decided.join is not None:
        assert decided.join.security == security
        assert NOW - decided.join.created_at <= WINDOW
        if not security:
            assert services and set(decided.join.services) == set(services)
    else:
        assert all(why for _i, why in decided.related)
