"""The knowledge base's problem register: one page listing every problem, one page each.

A problem's page says its state, its known-error workaround, its root cause and the incidents
it caused, with a link to each one's published review. Review pages list their problems too;
`problem_stamps` makes a review page render again when its problems change, so a review
published before the link shows it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from hub.app.models import Incident, Problem, ProblemLink
from hub.reviews.publish.render import front_matter, page_title, render_page

STATE_LABELS = {
    "open": "Open",
    "known_error": "Known error",
    "resolved": "Resolved",
    "closed": "Closed",
}


def problem_stamps(session, incident_ids: list[int] | None = None) -> dict[int, str]:
    """incident id → a text that changes when a problem is linked to it or changes."""
    stmt = (
        select(
            ProblemLink.incident_id,
            func.count(ProblemLink.id),
            func.max(ProblemLink.id),
            func.max(Problem.updated_at),
        )
        .join(Problem)
        .group_by(ProblemLink.incident_id)
    )
    if incident_ids is not None:
        stmt = stmt.where(ProblemLink.incident_id.in_(incident_ids))
    return {
        incident: f"p{count}.{last}.{updated.isoformat() if updated else ''}"
        for incident, count, last, updated in session.execute(stmt)
    }


def load_problems(session, published: set[str]) -> list[dict]:
    """Every problem with its incidents (and the path of each one's published review)."""
    problems = session.scalars(
        select(Problem).options(selectinload(Problem.links)).order_by(Problem.id.desc())
    ).all()
    ids = {link.incident_id for p in problems for link in p.links}
    found = session.execute(select(Incident.id, Incident.title).where(Incident.id.in_(ids)))
    titles = {number: title for number, title in found}
    out = []
    for p in problems:
        incidents = []
        for link in p.links:
            ref = f"INC-{link.incident_id}"
            incidents.append(
                {
                    "ref": ref,
                    "title": titles.get(link.incident_id, ""),
                    "review": f"../reviews/{ref}.md" if ref in published else None,
                }
            )
        out.append(
            {
                "ref": p.ref,
                "title": p.title,
                "state": STATE_LABELS.get(p.state, p.state),
                "known_error": p.state == "known_error",
                "workaround": p.workaround,
                "root_cause": p.root_cause,
                "description": p.description,
                "incidents": incidents,
                "path": f"problems/{p.ref}.md",
            }
        )
    return out


def problem_pages(problems: list[dict]) -> dict[str, str]:
    """The register (`problems.md`) and each problem's page (path under docs/ → content)."""
    out = {
        "problems.md": render_page(
            "problems.md.j2", front=front_matter(title="Problem register"), problems=problems
        )
    }
    for p in problems:
        out[p["path"]] = render_page(
            "problem.md.j2", front=front_matter(title=page_title(f"{p['ref']} {p['title']}")), p=p
        )
    return out
