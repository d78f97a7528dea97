"""The pure cost of reading one report: `classify_report` over the labelled set's reports.

    .venv/bin/python bench/classify_bench.py [--rounds 20]

Reads `tests/classification/reports.yaml` (155 reports as people write them) and its policy,
then classifies every report `--rounds` times in this process (no database, no related
reports). Prints the CPU time per report (process time: a busy shared machine does not
inflate it) and the wall-clock p50/p99 per report. Runs against whatever `hub` imports, so
the same file measures older code with `PYTHONPATH=<its checkout>`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from hub.core.classify import Report, classify_report
from hub.policy.load import load_policy

SET = Path(__file__).resolve().parent.parent / "tests" / "classification"
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def main() -> None:
    """Classify the set's reports and print the cost per report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    policy = load_policy(SET / "policy.yaml", env={}, log_warnings=False)
    items = yaml.safe_load((SET / "reports.yaml").read_text(encoding="utf-8"))["reports"]
    reports = [
        Report(
            title=i.get("title") or (i.get("text") or "").split("\n")[0],
            text=i.get("text") or "",
            services=tuple(i.get("services") or ()),
        )
        for i in items
    ]
    for r in reports:  # warm the per-policy caches, as a running hub has
        classify_report(r, policy, (), now=NOW)
    walls = []
    cpu0 = time.process_time()
    for _ in range(args.rounds):
        for r in reports:
            t0 = time.perf_counter()
            classify_report(r, policy, (), now=NOW)
            walls.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / len(walls)
    walls.sort()
    p99 = walls[int(len(walls) * 0.99)]
    print(f"reports classified: {len(walls):,} ({len(reports)} reports x {args.rounds} rounds)")
    print(f"CPU per report: {cpu * 1e6:,.0f} us")
    print(f"wall per report: p50 {statistics.median(walls) * 1e6:,.0f} us, p99 {p99 * 1e6:,.0f} us")


if __name__ == "__main__":
    main()
