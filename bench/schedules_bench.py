"""Who is on call, how fast: schedule resolution and what it adds to a declaration.

    .venv/bin/python bench/schedules_bench.py [--instants 10000] [--schedules 20]

1. lookups: a policy with --schedules schedules of 3 layers each (weekly, a daily night layer
   with restricted hours, a follow-the-sun weekday layer; Europe/Berlin and America/New_York
   alternating), and --instants random instants over a year spanning both DST changes; each
   instant is looked up in every schedule (`oncall_at`), and `next_shift` (what
   `schedule:NAME#next` costs) is timed on a tenth of them. Per-lookup p50/p99/max.
2. declaration: the escalation plan and the roster of every role (`plan_escalation`,
   `roster`, what the worker's mobilisation resolves) for the same policy whose roles and
   steps name `schedule:` entries, against the same policy with plain person lists; the
   difference is what schedules add to a declaration. The API's create does not resolve
   schedules (mobilisation runs in the worker after the 201), so `bench/api_bench.py`'s goal
   is untouched by construction; run it to confirm.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._load import machine, percentile, timed  # noqa: E402
from hub.core.escalation import plan_escalation, roster  # noqa: E402
from hub.core.schedules import Override, next_shift, oncall_at  # noqa: E402
from hub.policy.load import parse_policy  # noqa: E402
from hub.policy.model import ROLE_NAMES, Layer, Schedule  # noqa: E402

PEOPLE = [f"p{i}" for i in range(40)]


def make_schedules(n: int) -> dict[str, Schedule]:
    out = {}
    for i in range(n):
        people = PEOPLE[i % 30 : i % 30 + 6] or PEOPLE[:6]
        layers = (
            Layer(tuple(people[:3]), date(2026, 1, 5), timedelta(days=7), clock(9), 0),
            Layer(
                tuple(people[3:5]),
                date(2026, 1, 5),
                timedelta(days=1),
                clock(8),
                hours=(clock(20), clock(8)),
            ),  # fmt: skip
            Layer(
                (people[5],),
                date(2026, 1, 5),
                timedelta(hours=12),
                clock(8),
                hours=(clock(8), clock(14)),
                days=(0, 1, 2, 3, 4),
            ),  # fmt: skip
        )
        tz = "Europe/Berlin" if i % 2 == 0 else "America/New_York"
        out[f"s{i}"] = Schedule(f"s{i}", tz, layers)
    return out


def lookups(schedules: dict[str, Schedule], instants: list[datetime]) -> None:
    overrides = [Override("s0", "p39", instants[0], instants[0] + timedelta(days=2))]
    rows = {"oncall_at": ([], []), "next_shift (#next)": ([], [])}
    for n, at in enumerate(instants):
        for schedule in schedules.values():
            timed(rows["oncall_at"], oncall_at, schedule, at, overrides)
        if n % 10 == 0:
            timed(
                rows["next_shift (#next)"],
                next_shift,
                schedules[f"s{n % len(schedules)}"],
                at,
                overrides,
            )
    for name, (wall, cpu) in rows.items():
        print(
            f"{name:20} {len(wall):>7,} lookups  wall p50 {percentile(wall, 50) * 1e6:7.1f} µs  "
            f"p99 {percentile(wall, 99) * 1e6:7.1f} µs  max {max(wall) * 1e6:8.1f} µs  "
            f"cpu p99 {percentile(cpu, 99) * 1e6:7.1f} µs"
        )


def policy_text(n: int, scheduled: bool) -> str:
    people = "\n".join(f"  {p}: {{email: {p}@example.com}}" for p in PEOPLE)
    roles = {
        "major_incident_manager": "[schedule:s0, p1]" if scheduled else "[p0, p1]",
        "communications_owner": "[schedule:s1]" if scheduled else "[p6]",
        "problem_manager": "[schedule:s2]" if scheduled else "[p12]",
    }
    step2 = '"schedule:s0#next"' if scheduled else "role:major_incident_manager#2"
    schedules = ""
    if scheduled:
        schedules = "schedules:\n" + "".join(
            f"  s{i}:\n    timezone: {'Europe/Berlin' if i % 2 == 0 else 'America/New_York'}\n"
            "    layers:\n"
            f"      - {{rotation: weekly, handoff: 'mon 09:00', people: [p{i % 30}, p{i % 30 + 1}, p{i % 30 + 2}], start: 2026-01-05}}\n"
            f"      - {{rotation: daily, handoff: '08:00', hours: '20:00-08:00', people: [p{i % 30 + 3}, p{i % 30 + 4}], start: 2026-01-05}}\n"
            f"      - {{rotation: custom, length: 12h, handoff: '08:00', hours: '08:00-14:00', days: [mon-fri], people: [p{i % 30 + 5}], start: 2026-01-05}}\n"
            for i in range(n)
        )
    return (
        f"""people:
{people}
{schedules}roles:
"""
        + "".join(f"  {k}: {v}\n" for k, v in roles.items())
        + f"""severities:
  SEV1: {{major: true, ack_within: 5m, update_every: 30m}}
default_severity: SEV1
escalation:
  SEV1:
    - {{after: 0s, notify: [role:major_incident_manager, role:communications_owner]}}
    - {{after: 5m, unless: acknowledged, notify: [{step2}]}}
    - {{after: 15m, unless: acknowledged, notify: [role:problem_manager]}}
"""
    )


def declaration(n: int, instants: list[datetime]) -> None:
    results = {}
    for scheduled in (False, True):
        policy = parse_policy(policy_text(n, scheduled))
        wall, cpu = [], []
        for at in instants[:2000]:
            timed((wall, cpu), resolve, policy, at)
        results[scheduled] = (wall, cpu)
        label = "schedules" if scheduled else "person lists"
        print(
            f"declaration, {label:12}  wall p50 {percentile(wall, 50) * 1e6:7.1f} µs  "
            f"p99 {percentile(wall, 99) * 1e6:7.1f} µs  cpu p99 {percentile(cpu, 99) * 1e6:7.1f} µs"
        )
    added = percentile(results[True][1], 99) - percentile(results[False][1], 99)
    print(f"added by schedules (cpu p99): {added * 1e3:.3f} ms per declaration")


def resolve(policy, at: datetime) -> None:
    """What mobilisation resolves: every role's roster and the escalation plan."""
    for role in ROLE_NAMES:
        roster(policy, role, (), at)
    plan_escalation(policy, "SEV1", (), at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instants", type=int, default=10_000)
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    instants = [start + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(args.instants)]
    schedules = make_schedules(args.schedules)
    print(
        f"{args.schedules} schedules × 3 layers, {args.instants:,} instants over 2026; {machine()}"
    )
    lookups(schedules, instants)
    declaration(args.schedules, instants)


if __name__ == "__main__":
    main()
