"""Derived figures of a review (time to detect, acknowledge, mobilise, resolve; SLAs) and trends."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Times:
    """What the incident recorded; `started_at` (impact began) comes from the review."""

    detected_at: datetime  # the first report
    started_at: datetime | None = None
    declared_at: datetime | None = None
    acknowledged_at: datetime | None = None  # the Major Incident Manager's acknowledgement
    mobilised_at: datetime | None = None
    resolved_at: datetime | None = None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def _sla(taken: int | None, within: timedelta | None) -> dict | None:
    if within is None:
        return None
    target = int(within.total_seconds())
    return {"target_s": target, "taken_s": taken, "met": None if taken is None else taken <= target}


def derive(
    times: Times, *, ack_within: timedelta | None = None, resolve_within: timedelta | None = None
) -> dict:
    """The figures as JSON-ready seconds; the SLAs count from the declaration, like the timers."""
    declared = times.declared_at or times.detected_at
    tta = _seconds(declared, times.acknowledged_at)
    ttr_declared = _seconds(declared, times.resolved_at)
    return {
        "time_to_detect_s": _seconds(times.started_at, times.detected_at),
        "time_to_acknowledge_s": tta,
        "time_to_mobilise_s": _seconds(declared, times.mobilised_at),
        "time_to_resolve_s": _seconds(times.detected_at, times.resolved_at),
        "duration_s": _seconds(times.started_at or times.detected_at, times.resolved_at),
        "ack_sla": _sla(tta, ack_within),
        "resolve_sla": _sla(ttr_declared, resolve_within),
    }


def sla_verdict(figures: dict) -> str:
    """`met`, `breached` or `no target` over the acknowledge and resolve SLAs."""
    results = [
        s["met"]
        for s in (figures.get("ack_sla"), figures.get("resolve_sla"))
        if s and s.get("met") is not None
    ]
    if not results:
        return "no target"
    return "met" if all(results) else "breached"


@dataclass(frozen=True)
class Point:
    """One published review's figures for the trend charts."""

    month: str  # 2026-03
    severity: str
    tta_s: int | None
    ttr_s: int | None


@dataclass(frozen=True)
class Trend:
    """Mean time to acknowledge and to resolve per month, overall and per severity."""

    months: tuple[str, ...]
    mtta: dict[str, tuple[float | None, ...]]  # series name ("all", "SEV1"…) -> minutes per month
    mttr: dict[str, tuple[float | None, ...]]
    counts: tuple[int, ...]


def _mean_minutes(values: list[int]) -> float | None:
    return round(sum(values) / len(values) / 60, 1) if values else None


def trend(points: Iterable[Point], severities: Iterable[str]) -> Trend:
    """Monthly MTTA/MTTR (minutes) for every month from the first to the last point."""
    points = list(points)
    if not points:
        return Trend((), {}, {}, ())
    months = _month_range(min(p.month for p in points), max(p.month for p in points))
    series = ["all", *[s for s in severities if any(p.severity == s for p in points)]]
    tta: dict[tuple[str, str], list[int]] = defaultdict(list)
    ttr: dict[tuple[str, str], list[int]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for p in points:
        counts[p.month] += 1
        for name in ("all", p.severity):
            if p.tta_s is not None:
                tta[name, p.month].append(p.tta_s)
            if p.ttr_s is not None:
                ttr[name, p.month].append(p.ttr_s)
    return Trend(
        months=tuple(months),
        mtta={s: tuple(_mean_minutes(tta[s, m]) for m in months) for s in series},
        mttr={s: tuple(_mean_minutes(ttr[s, m]) for m in months) for s in series},
        counts=tuple(counts[m] for m in months),
    )


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out
