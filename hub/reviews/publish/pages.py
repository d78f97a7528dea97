"""The generated pages: one per published review, and the index pages that list them."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup

from hub.app.errors import Invalid
from hub.app.models import Incident, Review
from hub.core import review_metrics as rm
from hub.core.durations import format_duration
from hub.core.permissions import role_label
from hub.policy.model import Policy, person_name
from hub.reviews.content import check_ticket
from hub.reviews.publish import charts
from hub.reviews.publish.render import front_matter, html_text, md_block, page_title, render_page

LATEST = 20  # reviews on the home page
HOME_ITEMS = 20  # open action items on the home page


def slug(key: str) -> str:
    """A file-name-safe key (policy keys usually are already)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-") or "other"


def review_tags(policy: Policy, severity: str, services, tags) -> list[str]:
    """Page tags: the services, the severity, then the review's free tags."""
    return list(dict.fromkeys([*services, severity, *tags]))


def allowed_tags(policy: Policy) -> list[str]:
    """Every tag a page may carry (Material's `tags_allowed`)."""
    return list(dict.fromkeys([*policy.services, *policy.severities, *policy.review_tags]))


@dataclass(frozen=True)
class Row:
    """What the index pages need of one published review."""

    ref: str
    title: str
    severity: str
    services: tuple[str, ...]
    resolved_at: datetime
    month: str
    tta_s: int | None
    ttr_s: int | None


def _local(at: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    return at.astimezone(ZoneInfo(tz)).strftime(fmt) if at else "—"


def _with_target(seconds, sla: dict | None) -> str:
    text = format_duration(seconds)
    if sla:
        verdict = {True: "met", False: "missed", None: "open"}[sla.get("met")]
        text += f" (target {format_duration(sla['target_s'])}: {verdict})"
    return text


def render_review(review: Review, policy: Policy, problems: list) -> tuple[str, str]:
    """The review's Markdown page and its timeline SVG."""
    incident: Incident = review.incident
    tz, ref, m = policy.timezone, incident.ref, review.metrics or {}
    names = [policy.services[s].name if s in policy.services else s for s in review.services]
    month = _local(incident.resolved_at or review.created_at, tz, "%Y-%m")
    facts = [
        ("Incident", ref),
        ("Severity", incident.severity),
        ("Services", ", ".join(names) or "—"),
        ("Users affected", review.affected_users if review.affected_users is not None else "—"),
        ("Impact began", _local(review.started_at, tz)),
        ("Detected", _local(incident.created_at, tz)),
        ("Resolved", _local(incident.resolved_at, tz)),
        ("Time to detect", format_duration(m.get("time_to_detect_s"))),
        ("Time to acknowledge", _with_target(m.get("time_to_acknowledge_s"), m.get("ack_sla"))),
        ("Time to mobilise", format_duration(m.get("time_to_mobilise_s"))),
        ("Time to resolve", _with_target(m.get("time_to_resolve_s"), m.get("resolve_sla"))),
        ("SLA", m.get("sla", "no target")),
        (
            "Approved by",
            f"{person_name(policy, review.approved_by, nobody='—')}, "
            f"{_local(review.approved_at, tz, '%Y-%m-%d')}",
        ),
    ]
    items = [
        {
            "priority": i.priority,
            "title": i.title,
            "owner": person_name(policy, i.owner, nobody="—"),
            "due": i.due.isoformat() if i.due else "—",
            "status": i.status.replace("_", " "),
            "ticket": _ticket_link(i.ticket),
        }
        for i in review.action_items
    ]
    links = [
        (policy.services[s].name if s in policy.services else s, f"../browse/service/{slug(s)}.md")
        for s in review.services
    ]
    links += [
        (incident.severity, f"../browse/severity/{slug(incident.severity)}.md"),
        (month, f"../browse/month/{month}.md"),
        ("Action-item backlog", "../action-items.md"),
    ]
    text = render_page(
        "review.md.j2",
        ref=ref,
        facts=facts,
        items=items,
        links=links,
        front=front_matter(
            title=page_title(f"{ref}: {incident.title}"),
            tags=review_tags(policy, incident.severity, review.services, review.tags),
        ),
        sections=_sections(review),
        problems=[
            {
                "ref": p.ref,
                "title": p.title,
                "state": p.state.replace("_", " "),
                "workaround": p.workaround if p.state == "known_error" else "",
            }
            for p in problems
        ],
        timeline=[
            {
                "at": _local(datetime.fromisoformat(e["at"]), tz),
                "kind": e["kind"],
                "text": e["text"],
            }
            for e in review.timeline or ()
        ],
        timeline_svg=f"{ref}-timeline.svg",
        tasks=[
            {
                "n": t.n,
                "role": role_label(t.role),
                "text": t.text,
                "due": _local(t.due_at, tz, "%H:%M") if t.due_at else "—",
                "done": (
                    f"{_local(t.done_at, tz, '%H:%M')} by {person_name(policy, t.done_by)}"
                    if t.done_at
                    else "not done"
                ),
            }
            for t in incident.tasks
        ],
    )
    svg = charts.timeline_svg(review.timeline or [], tz, f"Timeline of {ref}")
    return text, svg


# The page's headings, each with its labelled parts: few headings, because every heading is
# an entry of the search index (with the page's tags repeated), and the index must stay small.
LAYOUT = (
    ("Summary", ((None, "summary"), ("Impact", "impact"))),
    (
        "Root causes",
        (
            (None, "root_causes"),
            ("Trigger", "trigger"),
            ("Contributing factors", "contributing_factors"),
        ),
    ),
    (
        "Detection and resolution",
        (("Detection", "detection"), ("Resolution and recovery", "resolution")),
    ),
    (
        "Lessons learned",
        (
            ("What went well", "went_well"),
            ("What went poorly", "went_poorly"),
            ("Where we got lucky", "lucky"),
            ("Lessons", "lessons"),
        ),
    ),
)


def _sections(review: Review) -> list:
    out = []
    for heading, parts in LAYOUT:
        kept = [
            (label, md_block(getattr(review, field)))
            for label, field in parts
            if (getattr(review, field) or "").strip()
        ]
        if kept:
            out.append((heading, kept))
    return out


def _ticket_link(url: str | None) -> Markup:
    """A link to the ticket, only if the URL still passes the check made on input."""
    try:
        safe = check_ticket(url)
    except Invalid:
        safe = None
    if not safe:
        return Markup("—")
    return Markup(f'<a href="{html_text(safe.replace("|", "%7C"))}">ticket</a>')


def _table(rows: list[Row], policy: Policy, prefix: str) -> list[dict]:
    return [
        {
            "ref": r.ref,
            "title": r.title,
            "severity": r.severity,
            "services": ", ".join(
                policy.services[s].name if s in policy.services else s for s in r.services
            )
            or "—",
            "date": r.resolved_at.astimezone(ZoneInfo(policy.timezone)).strftime("%Y-%m-%d"),
            "path": f"{prefix}reviews/{r.ref}.md",
        }
        for r in rows
    ]


def _items(items: list[dict], prefix: str) -> list[dict]:
    return [dict(i, path=f"{prefix}reviews/{i['ref']}.md") for i in items]


def index_pages(
    rows: list[Row], items: list[dict], policy: Policy, intro: str, today: date
) -> dict[str, str]:
    """Every index page (path under docs/ → content), newest reviews first."""
    rows = sorted(rows, key=lambda r: r.resolved_at, reverse=True)
    out: dict[str, str] = {}
    hidden = {"search": {"exclude": True}}
    out["index.md"] = render_page(
        "home.md.j2",
        intro=Markup(intro),
        rows=_table(rows[:LATEST], policy, ""),
        items=_items(items[:HOME_ITEMS], ""),
        more_items=max(0, len(items) - HOME_ITEMS),
        links=[
            ("By service", "browse/services.md"),
            ("By severity", "browse/severities.md"),
            ("By month", "browse/months.md"),
            ("Action items", "action-items.md"),
            ("Metrics", "metrics.md"),
            ("Tags", "tags.md"),
        ],
    )
    groups = {
        "service": defaultdict(list),
        "severity": defaultdict(list),
        "month": defaultdict(list),
    }
    for r in rows:
        for s in r.services:
            groups["service"][s].append(r)
        groups["severity"][r.severity].append(r)
        groups["month"][r.month].append(r)
    labels = {
        "service": lambda k: policy.services[k].name if k in policy.services else k,
        "severity": str,
        "month": str,
    }
    order = {
        "service": lambda keys: sorted(keys, key=labels["service"]),
        "severity": lambda keys: sorted(
            keys, key=lambda k: list(policy.severities).index(k) if k in policy.severities else 99
        ),
        "month": lambda keys: sorted(keys, reverse=True),
    }
    overview = {
        "service": ("services", "Reviews by service"),
        "severity": ("severities", "Reviews by severity"),
        "month": ("months", "Reviews by month"),
    }
    for kind, by_key in groups.items():
        page, title = overview[kind]
        keys = order[kind](by_key)
        out[f"browse/{page}.md"] = render_page(
            "groups.md.j2",
            front=front_matter(title=title, **hidden),
            title=title,
            intro=f"Published reviews grouped by {kind}.",
            column=kind.capitalize(),
            groups=[
                {"label": labels[kind](k), "count": len(by_key[k]), "path": f"{kind}/{slug(k)}.md"}
                for k in keys
            ],
        )
        for k in keys:
            name = labels[kind](k)
            out[f"browse/{kind}/{slug(k)}.md"] = render_page(
                "listing.md.j2",
                front=front_matter(title=page_title(name), **hidden),
                title=name,
                intro=f"{len(by_key[k])} published review(s).",
                rows=_table(by_key[k], policy, "../../"),
                back=(title, f"../{page}.md"),
            )
    overdue = [i for i in items if i["overdue"]]
    out["action-items.md"] = render_page(
        "backlog.md.j2",
        front=front_matter(title="Action-item backlog", **hidden),
        overdue=_items(overdue, ""),
        later=_items([i for i in items if not i["overdue"]], ""),
        today=today.isoformat(),
    )
    out.update(
        metrics_pages(rows, policy, follow_ups={"open": len(items), "overdue": len(overdue)})
    )
    out["tags.md"] = render_page("tags.md.j2", front=front_matter(title="Tags", **hidden))
    return out


def metrics_pages(
    rows: list[Row], policy: Policy, follow_ups: dict | None = None
) -> dict[str, str]:
    """The metrics page (with the open and overdue action items) and its two trend charts."""
    trend = rm.trend(
        [rm.Point(r.month, r.severity, r.tta_s, r.ttr_s) for r in rows], policy.severities
    )
    charts_ = [
        ("Mean time to acknowledge by month", "charts/mtta.svg", trend.mtta),
        ("Mean time to resolve by month", "charts/mttr.svg", trend.mttr),
    ]
    out = {
        file: charts.line_chart_svg(title, trend.months, series, unit="minutes")
        for title, file, series in charts_
    }
    out["metrics.md"] = render_page(
        "metrics.md.j2",
        front=front_matter(title="Metrics", search={"exclude": True}),
        charts=[(title, file) for title, file, _s in charts_],
        table=trend,
        follow_ups=follow_ups or {"open": 0, "overdue": 0},
    )
    return out


def nav() -> list:
    """The navigation: hand-written and index pages only, never the reviews themselves."""
    return [
        {"Home": "index.md"},
        {
            "Browse": [
                {"By service": "browse/services.md"},
                {"By severity": "browse/severities.md"},
                {"By month": "browse/months.md"},
                {"Tags": "tags.md"},
            ]
        },
        {"Action items": "action-items.md"},
        {"Problems": "problems.md"},
        {"Metrics": "metrics.md"},
        {"How to write a review": "writing-reviews.md"},
    ]
