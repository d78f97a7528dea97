"""Finding incidents: filters and full-text search, one function for both databases.

The words are looked up in incident titles, descriptions and summaries, the updates and
comments on their timelines, and their reviews. SQLite (the embedded default) answers from
the FTS5 table `incident_fts`, which triggers keep up to date; PostgreSQL from `to_tsvector`
over the same columns, with GIN indexes (migration 0210). Both split text into words the
same way (no stemming) and need every word given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, or_, select, text
from sqlalchemy.orm import Session

from hub.app.errors import Invalid
from hub.app.models import Incident, Problem, ProblemLink, Review, RoleAssignment

_WORD = re.compile(r"\w+", re.UNICODE)
SEARCHED_KINDS = ("update", "comment")  # the timeline entries searched (migration 0210)
PAST = ("resolved", "closed")
_PG_INCIDENT = (
    "to_tsvector('simple', coalesce(incidents.title,'')||' '||coalesce(incidents.description,'')"
    "||' '||coalesce(incidents.summary,''))"
)
_PG_REVIEW = (
    "to_tsvector('simple', coalesce(summary,'')||' '||coalesce(impact,'')||' '||"
    "coalesce(root_causes,'')||' '||coalesce(trigger,'')||' '||coalesce(detection,'')||' '||"
    "coalesce(resolution,'')||' '||coalesce(lessons,'')||' '||coalesce(went_well,'')||' '||"
    "coalesce(went_poorly,''))"
)
_PG_MATCH = text(
    f"({_PG_INCIDENT} @@ plainto_tsquery('simple', :q) "
    "OR incidents.id IN (SELECT incident_id FROM timeline WHERE kind IN ('update', 'comment') "
    "AND to_tsvector('simple', text) @@ plainto_tsquery('simple', :q)) "
    f"OR incidents.id IN (SELECT incident_id FROM reviews WHERE {_PG_REVIEW} "
    "@@ plainto_tsquery('simple', :q)))"
)
_SQLITE_MATCH = text(
    "incidents.id IN (SELECT incident_id FROM incident_fts WHERE incident_fts MATCH :q)"
)


def search_structure(name: str | None) -> bool:
    """Whether a table or index is the search index's (made by migration 0210, not a model)."""
    return bool(name) and (name.startswith("incident_fts") or name.endswith("_fts"))


@dataclass(frozen=True)
class Filters:
    """What to find; empty fields filter nothing."""

    q: str = ""
    state: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    major: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    mine: str | None = None  # a person key: incidents where they held a role or reported
    limit: int = 100
    exclude: tuple[int, ...] = field(default=())


def words(q: str) -> list[str]:
    """The words of a search, lower case, in order, each once."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(q or "")))


def parse_day(
    value: str | None, tz: str, *, end: bool = False, name: str = "since"
) -> datetime | None:
    """`2026-12-01` (a day in the policy's time zone; `end`: the day after it) or an ISO 8601
    time with an offset, as an aware datetime; Invalid otherwise."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(0), ZoneInfo(tz))
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid(
            f"{name}: expected a day like 2026-12-01 or a time with an offset, got {value!r}",
            code="invalid_value",
        )
    return moment


def search_incidents(session: Session, filters: Filters) -> list[Incident]:
    """Incidents matching every filter, newest first."""
    stmt = select(Incident).order_by(Incident.id.desc()).limit(filters.limit)
    if filters.q.strip():
        found = words(filters.q)
        if not found:
            raise Invalid(
                f"the search {filters.q!r} has no words to look for", code="invalid_value"
            )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.where(_PG_MATCH.bindparams(q=" ".join(found)))
        else:
            fts = " ".join('"' + w.replace('"', '""') + '"' for w in found)
            stmt = stmt.where(_SQLITE_MATCH.bindparams(q=fts))
    if filters.state:
        stmt = stmt.where(Incident.state.in_(filters.state))
    if filters.severity:
        stmt = stmt.where(Incident.severity.in_(filters.severity))
    if filters.major is not None:
        stmt = stmt.where(Incident.major.is_(filters.major))
    if filters.service:
        as_text = cast(Incident.services, String)
        stmt = stmt.where(or_(*(as_text.like(_json_word(s), escape="\\") for s in filters.service)))
    if filters.since is not None:
        stmt = stmt.where(Incident.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Incident.created_at < filters.until)
    if filters.mine:
        held = select(RoleAssignment.incident_id).where(RoleAssignment.person == filters.mine)
        stmt = stmt.where(or_(Incident.reporter == filters.mine, Incident.id.in_(held)))
    if filters.exclude:
        stmt = stmt.where(Incident.id.not_in(filters.exclude))
    return list(session.scalars(stmt))


def _json_word(value: str) -> str:
    """A LIKE pattern for `"value"` inside a JSON list's text."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f'%"{escaped}"%'


def similar_incidents(session: Session, incident: Incident, limit: int = 5) -> list[dict]:
    """Past incidents (resolved or closed) of the same services, newest first, each with its
    review's state and the known errors of the problems linked to it."""
    if not incident.services:
        return []
    found = search_incidents(
        session,
        Filters(state=PAST, service=tuple(incident.services), limit=limit, exclude=(incident.id,)),
    )
    if not found:
        return []
    ids = [i.id for i in found]
    reviews = {
        r.incident_id: r for r in session.scalars(select(Review).where(Review.incident_id.in_(ids)))
    }
    known: dict[int, list[Problem]] = {}
    rows = session.execute(
        select(ProblemLink.incident_id, Problem)
        .join(Problem, Problem.id == ProblemLink.problem_id)
        .where(ProblemLink.incident_id.in_(ids))
    )
    for incident_id, problem in rows:
        known.setdefault(incident_id, []).append(problem)
    return [
        {
            "incident": i,
            "review": reviews.get(i.id),
            "problems": known.get(i.id, []),
        }
        for i in found
    ]
