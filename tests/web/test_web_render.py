"""Pure renderers of the console: Adaptive Cards as HTML, the timeline chart, the policy picture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from hub.channels.teams.cards import md_escape
from hub.web.cards import card_html, markdown, markdown_line
from hub.web.chart import Deadline, timeline_svg, window
from hub.web.common import safe_next
from hub.web.policy_view import duration_text, picture, target_text

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"


def tags_in(html: str) -> list[tuple[str, dict]]:
    found = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: found.append((tag, dict(attrs)))
    parser.feed(str(html))
    return found


@pytest.mark.parametrize(
    "text, html",
    [
        ("**bold** and \\*not\\*", "<strong>bold</strong> and *not*"),
        (
            "[hub](https://hub.test/x)",
            '<a href="https://hub.test/x" rel="noopener noreferrer">hub</a>',
        ),
        ("[evil](javascript:alert)", "evil"),
        ("<at>Anna Schmidt</at> please", '<span class="mention">@Anna Schmidt</span> please'),
        ("a < b & c", "a &lt; b &amp; c"),
    ],
)
def test_card_markdown(text, html):
    assert str(markdown_line(text)) == html


@pytest.mark.parametrize("raw", [HOSTILE, "**x** [y](javascript:z) <at>q</at>", "- item\n# h"])
def test_user_text_escaped_for_teams_reads_back_as_itself(raw):
    shown = markdown(md_escape(raw))
    assert [t for t, _a in tags_in(shown) if t != "br"] == []
    assert "<script>" not in str(shown)


def test_a_whole_card_with_facts_columns_and_actions():
    card = {
        "type": "AdaptiveCard",
        "body": [
            {
                "type": "TextBlock",
                "text": "Title",
                "weight": "Bolder",
                "size": "Large",
                "color": "Attention",
            },
            {
                "type": "ColumnSet",
                "columns": [
                    {
                        "type": "Column",
                        "items": [
                            {"type": "FactSet", "facts": [{"title": "Severity", "value": "SEV1"}]}
                        ],
                    }
                ],
            },
            {"type": "Image", "url": "https://x/y.png", "altText": HOSTILE},
            {"type": "Media"},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open", "url": "https://hub.test/"},
            {"type": "Action.Submit", "title": "Do"},
        ],
    }
    html = str(card_html(card))
    assert '<div class="ac-textblock ac-bold ac-size-xl ac-attention">Title</div>' in html
    assert "<dt>Severity</dt><dd>SEV1</dd>" in html and "[Media not shown]" in html
    assert (
        '<a class="ac-action" href="https://hub.test/"' in html
        and '<span class="ac-action disabled">Do</span>' in html
    )
    assert {t for t, _a in tags_in(html)} <= {"div", "dl", "dt", "dd", "span", "a"}


def test_the_chart_draws_deadlines_events_and_escapes_text():
    deadlines = [
        Deadline("Acknowledge", T0 + timedelta(minutes=5), T0 + timedelta(minutes=2)),
        Deadline("Next update", T0 + timedelta(minutes=15)),
        Deadline("Resolve", T0 + timedelta(hours=4)),
    ]
    events = [(T0, "reported", HOSTILE), (T0 + timedelta(minutes=2), "acknowledged", "ack")]
    deliveries = [(T0 + timedelta(minutes=1), "failed", "page to anna")]
    svg = str(
        timeline_svg(
            events,
            deliveries,
            deadlines,
            start=T0,
            now=T0 + timedelta(minutes=20),
            end=None,
            tz="Europe/Berlin",
        )
    )
    assert svg.startswith("<svg") and 'class="deadline met"' in svg
    assert 'class="deadline missed"' in svg  # the next update was due at 09:15 UTC
    assert "Resolve 14:00 →" in svg  # beyond the window: drawn at its edge, in local time
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert {t for t, _a in tags_in(svg)} <= {
        "svg",
        "title",
        "desc",
        "line",
        "text",
        "g",
        "circle",
        "rect",
    }


def test_the_window_follows_what_happened():
    now = T0 + timedelta(hours=1)
    assert window(T0, now, None, []) == now + timedelta(minutes=15)
    near = [Deadline("Resolve", T0 + timedelta(minutes=80))]
    assert window(T0, now, None, near) > near[0].due


def test_the_policy_picture(example_policy):
    svg = str(picture(example_policy, "SEV1"))
    assert "acknowledge by 5 min" in svg and "resolve by 4 h" in svg
    assert "+0: Anna Schmidt, tech lead, Chloe Martin" in svg
    assert target_text(example_policy, "role:major_incident_manager#2") == (
        "Major Incident Manager #2 (Ben Okafor)"
    )
    assert target_text(example_policy, "person:julia") == "Julia Costa"
    assert duration_text(timedelta(hours=1, minutes=30)) == "1 h 30 min"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/incidents/INC-1", "/incidents/INC-1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
        ("ops", "/"),
    ],
)
def test_safe_next(value, expected):
    assert safe_next(value) == expected
