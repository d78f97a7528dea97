"""SLA deadlines (acknowledge, resolve, review) and the warning marks before them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.policy.model import Severity

LABELS = {"ack": "Acknowledgement", "resolve": "Resolution", "review": "Post-incident review"}
BREACH = 100


@dataclass(frozen=True)
class SlaMark:
    """The moment `percent` of an SLA is used; 100 is the breach."""

    kind: str  # ack | resolve | review
    percent: int
    at: datetime
    deadline: datetime

    @property
    def breached(self) -> bool:
        return self.percent >= BREACH

    @property
    def label(self) -> str:
        return LABELS[self.kind]


def marks(
    kind: str, start: datetime, within: timedelta | None, warn_at: Iterable[float]
) -> list[SlaMark]:
    """The warnings (fractions of `within`) and the breach of one SLA that starts at `start`."""
    if not within:
        return []
    deadline = start + within
    percents = sorted({round(f * 100) for f in warn_at if 0 < f < 1} | {BREACH})
    return [SlaMark(kind, p, start + within * (p / 100), deadline) for p in percents]


def plan_slas(severity: Severity, start: datetime, warn_at: Iterable[float]) -> list[SlaMark]:
    """Acknowledge and resolve marks of a major incident declared at `start`."""
    warn_at = tuple(warn_at)
    return marks("ack", start, severity.ack_within, warn_at) + marks(
        "resolve", start, severity.resolve_within, warn_at
    )


def review_marks(
    severity: Severity, resolved_at: datetime, warn_at: Iterable[float]
) -> list[SlaMark]:
    """Marks of the post-incident review deadline, counted from resolution."""
    return marks("review", resolved_at, severity.review_within, warn_at)


def replan(
    new: Iterable[SlaMark], reached: Iterable[tuple[str, int]], now: datetime
) -> list[SlaMark]:
    """Marks to schedule after a severity change.

    Marks at or below one already reached (`(kind, percent)` fired before) are dropped; of the
    marks the new deadline puts in the past, only the highest per kind stays (due now), so a
    change does not replay every warning at once.
    """
    highest: dict[str, int] = {}
    for kind, percent in reached:
        highest[kind] = max(percent, highest.get(kind, 0))
    ahead, past = [], {}
    for mark in new:
        if mark.percent <= highest.get(mark.kind, 0):
            continue
        if mark.at > now:
            ahead.append(mark)
        elif mark.kind not in past or mark.percent > past[mark.kind].percent:
            past[mark.kind] = mark
    late = [SlaMark(m.kind, m.percent, now, m.deadline) for m in past.values()]
    return sorted(late + ahead, key=lambda m: (m.at, m.kind, m.percent))


def percent_used(start: datetime, deadline: datetime, now: datetime) -> float:
    """How much of the time from `start` to `deadline` has passed, in percent."""
    total = (deadline - start).total_seconds()
    return 100.0 if total <= 0 else 100.0 * (now - start).total_seconds() / total
